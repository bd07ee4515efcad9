/** The PC/SC reader service (@cardlend/pcsc). */
import type { ReaderService } from './ports.ts';

/** Opens the operating system's PC/SC service. */
export async function openPcscReaders(): Promise<ReaderService> {
  throw Object.assign(new Error('PC/SC backend not wired yet'), { code: 'UNAVAILABLE' });
}
