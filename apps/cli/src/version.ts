/** The version `cardlend --version` prints and the helper names itself with. */
import pkg from '../package.json' with { type: 'json' };

export const CARDLEND_VERSION: string = pkg.version;
