/** Vite's `?raw` imports (test/braze-templates.test.ts reads README.md so): the file's text. */
declare module "*?raw" {
  const text: string;
  export default text;
}
