import type { AnyProduct } from "./machinery/product.ts";
import { coupons } from "./coupons/product.ts";
import { members } from "./members/product.ts";
import { passes } from "./passes/product.ts";

/** The products the proxy serves, one adapter each (src/machinery/product.ts). */
export const products: readonly AnyProduct[] = [passes, members, coupons];
