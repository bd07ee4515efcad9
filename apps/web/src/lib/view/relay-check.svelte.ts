/**
 * Whether a relay named in the link (or typed) can be reached, as reactive state: the last
 * probe's answer wins; an older probe that answers late is ignored.
 */
import { probeRelay, type RelayReachability } from '../adapters/relay-probe.ts';

export class RelayCheck {
  #state = $state<RelayReachability>('unknown');
  #run = 0;
  readonly #probe: (httpUrl: string) => Promise<'reachable' | 'unreachable'>;

  constructor(probe: (httpUrl: string) => Promise<'reachable' | 'unreachable'> = probeRelay) {
    this.#probe = probe;
  }

  get state(): RelayReachability {
    return this.#state;
  }

  /** Forget any answer (the relay is the page's own, or its address cannot be used). */
  reset(): void {
    this.#run++;
    this.#state = 'unknown';
  }

  async check(httpUrl: string): Promise<'reachable' | 'unreachable'> {
    const run = ++this.#run;
    this.#state = 'checking';
    const result = await this.#probe(httpUrl);
    if (run === this.#run) this.#state = result;
    return result;
  }
}
