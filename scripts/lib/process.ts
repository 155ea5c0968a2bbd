/**
 * Stopping what a run started, whatever ends it: the benchmark, the load run, the e2e tests and
 * `npm start` each start workerd, wrangler, servers and temporary folders that must not outlive them.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Stops what a run started, newest first, once. Whoever asks while it is stopping waits for the
 * same stop (a signal handler and the run's own `finally` may both ask).
 */
export class Cleanups {
  private readonly steps: { what: string; run: () => unknown }[] = [];
  private stopping: Promise<void> | undefined;

  add(what: string, run: () => unknown): void {
    this.steps.push({ what, run });
  }

  run(): Promise<void> {
    this.stopping ??= this.stopAll().finally(() => {
      this.stopping = undefined;
    });
    return this.stopping;
  }

  private async stopAll(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step.run();
      } catch (error) {
        console.error(`[cleanup] stopping ${step.what}: ${String(error)}`);
      }
    }
  }
}

/**
 * Makes a command-line run end through `cleanups` whatever ends it: a signal (exit 130), an
 * uncaught error (1), or running past `limitMs` (2), so that it always stops by itself. Returns
 * `stop(code, reason)` for the run's own failures; the first reason to stop wins.
 */
export function stopOnExit(tag: string, cleanups: Cleanups, limitMs: number): (code: number, reason: string) => void {
  let exiting = false;
  const stop = (code: number, reason: string) => {
    if (exiting) return;
    exiting = true;
    console.error(`[${tag}] ${reason}`);
    // A cleanup that hangs must not keep the process alive.
    setTimeout(() => process.exit(code), 20_000).unref();
    void cleanups.run().finally(() => process.exit(code));
  };
  setTimeout(() => stop(2, `still running after ${limitMs / 1000} s: stopping everything.`), limitMs).unref();
  // Once workerd runs, Miniflare's own handlers for these stop it and exit at once; folders and
  // other children go on `exit` (throwawayDir, killOnExit).
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => stop(130, `${signal}: stopping.`));
  for (const event of ["uncaughtException", "unhandledRejection"] as const) {
    process.once(event, (error: unknown) => stop(1, `failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`));
  }
  return stop;
}

/**
 * SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. With `group`, the
 * whole process group of a `detached` child: wrangler leaves workerd running if only it is stopped.
 */
export async function stopChild(child: ChildProcess, { group = false, graceMs = 5_000 } = {}): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  signal(child, group, "SIGTERM");
  const timer = setTimeout(() => signal(child, group, "SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * SIGKILLs the child (or its group) if this process exits first: Miniflare's signal handlers exit
 * at once, before any stopChild could run, and workerd would outlive us.
 */
export function killOnExit<T extends ChildProcess>(child: T, { group = false } = {}): T {
  const kill = () => signal(child, group, "SIGKILL");
  process.on("exit", kill);
  child.once("exit", () => process.off("exit", kill));
  return child;
}

function signal(child: ChildProcess, group: boolean, name: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    if (group) process.kill(-child.pid, name);
    else child.kill(name);
  } catch {
    // already gone (ESRCH)
  }
}

/**
 * A fresh folder, removed by `remove()` or at the latest when the process exits: Miniflare turns
 * SIGINT, SIGTERM and SIGHUP into an immediate `process.exit`, before any async cleanup could run.
 */
export function throwawayDir(prefix: string, parent = tmpdir()): { path: string; remove(): void } {
  const path = mkdtempSync(join(parent, prefix));
  const remove = () => {
    rmSync(path, { recursive: true, force: true });
    process.off("exit", remove);
  };
  process.on("exit", remove);
  return { path, remove };
}
