/**
 * Which reader to lend: `--reader` matches a part of the name; without it, the one reader
 * holding a card; otherwise a choice in the terminal, or a refusal listing the readers. Pure.
 */

/** What the CLI knows about a reader when choosing (from the PC/SC backend's listing). */
export interface ReaderSummary {
  readonly name: string;
  /** `present`: a card; `empty`: none; `in-use`: a card another program holds exclusively; `mute`: a card that does not answer. */
  readonly state: 'present' | 'empty' | 'in-use' | 'mute' | 'unknown';
  /** The card's ATR, when there is a card. */
  readonly atr: Uint8Array | null;
}

export type ReaderChoice =
  | { readonly kind: 'chosen'; readonly reader: ReaderSummary }
  /** Ask the person to pick one of `candidates` (only with a terminal). */
  | { readonly kind: 'ask'; readonly candidates: readonly ReaderSummary[]; readonly why: string }
  | { readonly kind: 'refuse'; readonly message: string };

const hasCard = (r: ReaderSummary): boolean => r.state !== 'empty' && r.state !== 'unknown';

/** One line per reader for refusal messages. */
function listing(readers: readonly ReaderSummary[]): string {
  return readers
    .map((r) => `  - ${r.name} (${r.state === 'present' ? 'card' : r.state})`)
    .join('\n');
}

function askOrRefuse(
  candidates: readonly ReaderSummary[],
  why: string,
  isInteractive: boolean,
): ReaderChoice {
  if (isInteractive) return { kind: 'ask', candidates, why };
  return {
    kind: 'refuse',
    message: `${why} Choose one with --reader NAME (a part of its name):\n${listing(candidates)}`,
  };
}

/**
 * Chooses the reader to lend.
 * @param query `--reader` (a part of the name, case-insensitive), or `null`.
 * @param isInteractive true when a person can answer a question in the terminal.
 */
export function chooseReader(
  readers: readonly ReaderSummary[],
  query: string | null,
  isInteractive: boolean,
): ReaderChoice {
  if (readers.length === 0)
    return {
      kind: 'refuse',
      message:
        'No smart card reader found. Plug the reader in (and check that the smart card service, pcscd on Linux, is running).',
    };
  if (query !== null) {
    const q = query.toLowerCase();
    const exact = readers.filter((r) => r.name.toLowerCase() === q);
    if (exact.length === 1) return { kind: 'chosen', reader: exact[0] as ReaderSummary };
    const matches = readers.filter((r) => r.name.toLowerCase().includes(q));
    if (matches.length === 1) return { kind: 'chosen', reader: matches[0] as ReaderSummary };
    if (matches.length === 0)
      return {
        kind: 'refuse',
        message: `No reader's name contains "${query}". The readers are:\n${listing(readers)}`,
      };
    return askOrRefuse(matches, `${matches.length} readers match "${query}".`, isInteractive);
  }
  if (readers.length === 1) return { kind: 'chosen', reader: readers[0] as ReaderSummary };
  const withCard = readers.filter(hasCard);
  if (withCard.length === 1) return { kind: 'chosen', reader: withCard[0] as ReaderSummary };
  if (withCard.length === 0)
    return askOrRefuse(readers, 'No reader holds a card yet.', isInteractive);
  return askOrRefuse(withCard, `${withCard.length} readers hold a card.`, isInteractive);
}

/**
 * Reads the person's answer to the reader question: a number from the list (1-based) or a
 * part of a name matching exactly one candidate. `null` when the answer picks none.
 */
export function pickFromAnswer(
  candidates: readonly ReaderSummary[],
  answer: string,
): ReaderSummary | null {
  const text = answer.trim();
  if (text === '') return null;
  if (/^[0-9]+$/.test(text)) return candidates[Number(text) - 1] ?? null;
  const q = text.toLowerCase();
  const matches = candidates.filter((r) => r.name.toLowerCase().includes(q));
  return matches.length === 1 ? (matches[0] as ReaderSummary) : null;
}
