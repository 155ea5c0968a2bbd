import * as z from "zod";
import type { Config } from "../config/config.ts";
import { changedEntries } from "../machinery/diff.ts";
import type { Ids, PlannedCall, Product, Upstream } from "../machinery/product.ts";
import { planned } from "../passkit/exchange.ts";
import { PassKitError } from "../passkit/failures.ts";
import { createPlatformClient } from "../passkit/platform/client.ts";
import {
  amount,
  createRecord,
  freshRecord,
  MERGED_METADATA_NOTE,
  mergedMetaData,
  parserOf,
  passState,
  personChanges,
  platformEvent,
  readBack,
  readByExternalId,
  recordFields,
  requirePlatformCredentials,
  text,
  toPassKitPerson,
  unknownClass,
  type PersonFields,
} from "../passkit/platform/records.ts";
import {
  createMemberSchema,
  knownMemberFields,
  memberRoute,
  memberViewSchema,
  updateMemberSchema,
  type CreateMember,
  type MemberView,
  type UpdateMember,
} from "./schemas.ts";

/** PassKit's Member, as far as the proxy reads it (docs/upstreams.md, Membership). */
const memberSchema = z.looseObject({
  ...recordFields,
  programId: text,
  tierId: text,
  points: amount,
  secondaryPoints: amount,
  tierPoints: amount,
});
type Member = z.output<typeof memberSchema>;

/** What an update changes, each part written through its own PassKit route. */
interface MemberChanges {
  /** The whole map to send: PassKit replaces it on write. */
  metaData?: Record<string, string>;
  expiryDate?: string;
  optOut?: boolean;
  person?: PersonFields;
  points?: number;
  secondaryPoints?: number;
  tierPoints?: number;
  tierId?: string;
}

const ROUTES = {
  byPath: (programId: string, externalId: string) => `/members/member/externalId/${programId}/${externalId}`,
  list: (programId: string) => `/members/member/list/${programId}`,
};
const POINTS = ["points", "secondaryPoints", "tierPoints"] as const;
const RESET = { points: "resetPoints", secondaryPoints: "resetSecondaryPoints", tierPoints: "resetTierPoints" } as const;

/** `/v1/members`: Membership members on PassKit's current platform (contract §7). */
export const members: Product<CreateMember, UpdateMember, Member, MemberChanges, MemberView> = {
  name: "member",
  ...memberRoute,
  dataMaps: ["metaData"],
  schemas: { create: createMemberSchema, update: updateMemberSchema, view: memberViewSchema, knownFieldsAt: knownMemberFields },
  idsOf: (body) => [body.programId, body.externalId],
  asUpdate: ({ programId: _p, externalId: _x, ...update }) => update,
  requireConfig: requirePlatformCredentials,
  upstream: membership,
  view: (member, config) => {
    const { url, appleUrl, googleUrl, installed, passStatus } = passState(member, config.PASSKIT_PASS_BASE_URL);
    return {
      id: member.id,
      url,
      appleUrl,
      googleUrl,
      programId: member.programId ?? "",
      externalId: member.externalId ?? "",
      tierId: member.tierId ?? null,
      status: member.status ?? null,
      points: member.points ?? 0,
      secondaryPoints: member.secondaryPoints ?? 0,
      tierPoints: member.tierPoints ?? 0,
      expiryDate: member.expiryDate ?? null,
      installed,
      passStatus: passStatus as MemberView["passStatus"],
      metaData: member.metaData ?? {},
    };
  },
  event: (view) => platformEvent(view, view.programId),
  createdAt: (member) => member.created,
  actions: [],
};

function membership(config: Config, fetcher?: typeof fetch): Upstream<CreateMember, UpdateMember, Member, MemberChanges> {
  const client = createPlatformClient(config, fetcher);
  const parse = parserOf(memberSchema);
  const write = (method: "PUT" | "PATCH" | "DELETE", path: string, body: object) =>
    client.send(client.request(method, path, body), (json) => json);
  const read = (ids: Ids) => readByExternalId(client, ROUTES, ids, parse);
  const requests = {
    enrol: (body: CreateMember) =>
      client.request("POST", "/members/member", { ...body, ...(body.person ? { person: toPassKitPerson(body.person) } : {}) }),
  };

  return {
    read,
    create: (body) =>
      createRecord(
        client,
        requests.enrol(body),
        (id): Member => ({ ...body, ...freshRecord(id, body, "ENROLLED") }),
        () => unknownClass(["programId", "tierId"], "program or tier"),
      ),
    changes(member, update) {
      const changes: MemberChanges = changedEntries(member, {
        expiryDate: update.expiryDate,
        optOut: update.optOut,
        tierId: update.tierId,
      });
      for (const field of POINTS) {
        if (update[field] !== undefined && update[field] !== (member[field] ?? 0)) changes[field] = update[field];
      }
      const metaData = mergedMetaData(member.metaData, update.metaData);
      if (metaData) changes.metaData = metaData;
      const person = personChanges(member.person, update.person);
      if (person) changes.person = person;
      return Object.keys(changes).length > 0 ? changes : undefined;
    },
    async update(ids, member, changes) {
      const { id } = member;
      const programId = ids[0];
      if (changes.metaData || changes.expiryDate || changes.optOut !== undefined) {
        const { metaData, expiryDate, optOut } = changes;
        await write("PUT", "/members/member", { id, programId, tierId: member.tierId, metaData, expiryDate, optOut });
      }
      if (changes.person) await write("PATCH", "/members/member/person", { id, person: toPassKitPerson(changes.person) });
      const amounts = pointsToSet(changes);
      if (amounts) await write("PUT", "/members/member/points/set", { id, programId, ...amounts });
      if (changes.tierId) {
        try {
          await write("PUT", "/members/member/tier", { memberId: id, programId, tierId: changes.tierId });
        } catch (error) {
          if (error instanceof PassKitError && error.failure.kind === "not_found") throw unknownClass(["tierId"], "tier");
          throw error;
        }
      }
      return readBack(() => read(ids));
    },
    isRemoved: () => false,
    async remove(_ids, member) {
      await write("DELETE", "/members/member", { id: member.id });
      return undefined;
    },
    act: (name) => Promise.reject(new Error(`members have no action ${name}`)),
    plan: {
      create: (body) => [planned(requests.enrol(body))],
      update: ([programId, externalId], update) => {
        const calls: PlannedCall[] = [];
        const { metaData, expiryDate, optOut, person, tierId } = update;
        if (metaData || expiryDate || optOut !== undefined) {
          const call = planned(client.request("PUT", "/members/member", { externalId, programId, metaData, expiryDate, optOut }));
          calls.push(metaData ? { ...call, note: MERGED_METADATA_NOTE } : call);
        }
        if (person)
          calls.push(
            planned(client.request("PATCH", "/members/member/person", { externalId, classId: programId, person: toPassKitPerson(person) })),
          );
        const amounts = pointsToSet(update);
        if (amounts) calls.push(planned(client.request("PUT", "/members/member/points/set", { externalId, programId, ...amounts })));
        if (tierId) calls.push(planned(client.request("PUT", "/members/member/tier", { externalMemberId: externalId, programId, tierId })));
        return calls;
      },
      remove: ([programId, externalId]) => [planned(client.request("DELETE", "/members/member", { externalId, programId }))],
      act: () => [],
    },
  };
}

/** The body of a points/set call for the balances given; zero is "absent" in proto3, so a balance
 * set to 0 takes its reset flag [inferred]. Undefined when no balance is given. */
function pointsToSet(balances: Pick<MemberChanges, (typeof POINTS)[number]>): Record<string, number | boolean> | undefined {
  const given = POINTS.filter((field) => balances[field] !== undefined);
  if (given.length === 0) return undefined;
  return Object.fromEntries(given.map((field) => (balances[field] === 0 ? [RESET[field], true] : [field, balances[field]!])));
}
