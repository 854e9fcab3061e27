/**
 * Env-file lines (`KEY="value"` and `# comment`), readable alike by `sh` and dotenv. The rule
 * lives in `@agentwrit/guard` (also used by `agentwrit-guard pubkey`); this module only names it
 * for the dev broker.
 */
export { envLine, pemEnvLine, envCommentLine as commentLine, publicKeyEnvLines } from "@agentwrit/guard";
