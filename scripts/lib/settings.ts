/**
 * A number from the environment (`LOAD_SECONDS=10 npm run test:load`, `PORT=8790 npm start`), or
 * `fallback` when unset; anything else outside [min, max] ends the run with one line saying so.
 */
export function numberSetting(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    console.error(`${name} must be a number from ${min} to ${max}, not ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}
