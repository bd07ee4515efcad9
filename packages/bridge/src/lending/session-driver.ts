/**
 * Drives the VSCard session of the current connection for the machine: calls into it,
 * performs its actions (frames to send, guest commands, its timer, close) and reacts to its
 * events (reader and ATR acknowledgements, refusals, timeouts).
 */
import {
  checkClientFrame,
  decodeMessage,
  VSCARD_MAX_GUEST_COMMAND_BYTES,
  VscardClientSession,
} from '@cardlend/vscard';
import type { SessionAction, SessionEvent, VscardMessage } from '@cardlend/vscard';
import { BRIDGE_ERRORS, BridgeError, toErrorInfo } from '../errors.ts';
import type { Connection, MachineCore, SessionCall } from './core.ts';

/** QEMU forwards guest commands of up to 65526 bytes (2 more than a client may send). */
const HOST_FRAME = { maxPayloadBytes: VSCARD_MAX_GUEST_COMMAND_BYTES } as const;

/**
 * A relay frame as a VSCard message, or the error that ends the connection: a text frame
 * (`null`) or bytes that do not decode.
 */
export function decodeHostFrame(bytes: Uint8Array | null): VscardMessage | BridgeError {
  if (bytes === null) {
    return new BridgeError('BRIDGE_RELAY_PROTOCOL', { message: 'The relay sent a text frame.' });
  }
  try {
    return decodeMessage(bytes, HOST_FRAME);
  } catch (e) {
    return new BridgeError('BRIDGE_RELAY_PROTOCOL', { cause: e });
  }
}

/** See the module comment. */
export class SessionDriver {
  readonly #core: MachineCore;

  constructor(core: MachineCore) {
    this.#core = core;
  }

  /** `conn` is open with the cardlend subprotocol: start a VSCard session on it (Init, ReaderAdd). */
  open(
    conn: Connection,
    readerName: string,
    ackTimeoutMs: number | undefined,
    maxAnswerBytes: number,
  ): void {
    conn.session = new VscardClientSession({
      readerName,
      maxAnswerBytes,
      ...(ackTimeoutMs === undefined ? {} : { ackTimeoutMs }),
    });
    this.run(conn, (s, now) => s.start(now));
  }

  /** Calls into `conn`'s session (if current) and performs its actions; a throwing call ends the connection. */
  run(conn: Connection, call: SessionCall): void {
    const core = this.#core;
    const session = conn.session;
    if (session === null || core.conn !== conn) return;
    let actions: SessionAction[];
    try {
      actions = call(session, core.nowMs);
    } catch (e) {
      core.log('warn', 'VSCard session rejected an input', { error: String(e) });
      core.failConnection(conn, new BridgeError('BRIDGE_RELAY_PROTOCOL', { cause: e }));
      return;
    }
    for (let i = 0; i < actions.length; i++) {
      if (conn.session !== session || core.conn !== conn) return;
      this.#perform(conn, actions[i]!);
    }
  }

  /** The session's timer fired. */
  tick(): void {
    const conn = this.#core.conn;
    if (conn !== null) this.run(conn, (s, now) => s.tick(now));
  }

  #perform(conn: Connection, action: SessionAction): void {
    const core = this.#core;
    switch (action.type) {
      case 'send': {
        if (conn.status !== 'open') return;
        // The relay closes with BAD_FRAME on anything QEMU would not take (e.g. the
        // FlushComplete the session sends if a non-QEMU host sends Flush, §2.3): never send it.
        const refusal = checkClientFrame(action.bytes);
        if (refusal !== null) {
          core.log('warn', `not sending ${action.message.type}: the relay would refuse it`, {
            error: String(refusal),
          });
          return;
        }
        core.emit({ type: 'send', socket: conn.socket, bytes: action.bytes });
        return;
      }
      case 'apdu':
        core.guestCommand(conn, action.id, action.apdu);
        return;
      case 'event':
        this.#onEvent(conn, action.event);
        return;
      case 'arm-timer':
        // The session keeps one timer: a new request replaces the earlier one.
        core.emit({ type: 'arm-timer', timer: 'session', atMs: action.atMs });
        return;
      case 'close':
        if (core.isRunning && conn.failure === null) {
          conn.failure = new BridgeError('BRIDGE_VM_NOT_ANSWERING', {
            message: `${BRIDGE_ERRORS.BRIDGE_VM_NOT_ANSWERING} (${action.reason})`,
          });
        }
        core.closeSocket(
          conn,
          1000,
          core.isStopping ? 'Lending stopped' : action.reason.slice(0, 100),
        );
        return;
    }
  }

  #onEvent(conn: Connection, event: SessionEvent): void {
    const core = this.#core;
    core.log('debug', `session event ${event.kind}`, { ...event });
    switch (event.kind) {
      case 'reader-added':
        core.readerAnnounced(conn);
        return;
      case 'atr-accepted': {
        const { card, error, link } = core.state;
        core.setState({
          link: core.isRunning ? 'lent' : link,
          card: card === null ? null : { ...card, vmStatus: 'accepted' },
          error: error?.code === 'BRIDGE_ATR_REFUSED' ? null : error,
        });
        return;
      }
      case 'atr-refused':
        this.#atrRefused(conn);
        return;
      case 'reader-refused':
        core.failConnection(
          conn,
          new BridgeError('BRIDGE_READER_REFUSED', {
            message: `${BRIDGE_ERRORS.BRIDGE_READER_REFUSED} (code ${event.code})`,
          }),
        );
        return;
      case 'ack-timeout':
        if (core.isRunning) {
          core.failConnection(
            conn,
            new BridgeError('BRIDGE_VM_NOT_ANSWERING', {
              message: `${BRIDGE_ERRORS.BRIDGE_VM_NOT_ANSWERING} (waiting for ${event.waitingFor})`,
            }),
          );
        }
        return;
      case 'guest-command-refused':
        // The VM still showed a card we do not lend; the session answered VSC_Error.
        core.log('info', 'guest command without a lent card answered with VSC_Error');
        return;
      default:
        return;
    }
  }

  /** The VM refused the ATR; the session follows up with a CardRemove (§6 rule 6). */
  #atrRefused(conn: Connection): void {
    const core = this.#core;
    conn.vmCard = 'cleared';
    const card = core.state.card;
    const reason = card?.predictedRefusal;
    const message =
      `${BRIDGE_ERRORS.BRIDGE_ATR_REFUSED}` +
      (reason !== null && reason !== undefined ? ` Likely cause: ${reason}.` : '');
    core.setState({
      link: core.isRunning ? 'refused' : core.state.link,
      card: card === null ? null : { ...card, vmStatus: 'refused' },
      error: toErrorInfo(new BridgeError('BRIDGE_ATR_REFUSED', { message })),
    });
  }
}
