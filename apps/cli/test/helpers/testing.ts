/**
 * `@cardlend/cli/testing`: what the browser tests (e2e) share with the CLI's own tests: a
 * `cardlend serve` helper on a real pcscd, the check of a guest's pkcs11-tool signature, and
 * the types they are driven through.
 */
export { startPcscHelper } from './pcsc-helper.ts';
export type { PcscHelper } from './pcsc-helper.ts';
export { checkPivSignature } from './piv-signature.ts';
export type { Prompter } from '../../src/ports.ts';
export type { HelperServer } from '../../src/serve/server.ts';
