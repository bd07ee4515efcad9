import { describe, expect, it } from 'vitest';
import { ListenerList } from '../src/listener-list.ts';

describe('ListenerList', () => {
  it('a notification reaches the subscribers of its moment, as a copy of a Set would', () => {
    const list = new ListenerList<number>();
    const seen: string[] = [];
    const late = (n: number): void => void seen.push(`late ${n}`);
    let offSecond = (): void => undefined;
    const first = (n: number): void => {
      seen.push(`first ${n}`);
      if (n === 1) {
        list.add(late); // waits for the next notification
        offSecond(); // still gets this one
      }
    };
    const second = (n: number): void => void seen.push(`second ${n}`);
    list.add(first);
    list.add(first); // once, however often added
    offSecond = list.add(second);
    for (const n of [1, 2]) for (const l of list.current) l(n);
    expect(seen).toEqual(['first 1', 'second 1', 'first 2', 'late 2']);
  });

  it('never changes an array it handed out', () => {
    const list = new ListenerList<number>();
    const a = (): void => undefined;
    const off = list.add(a);
    const before = list.current;
    list.add(() => undefined);
    off();
    expect(before).toEqual([a]);
    expect(list.current).toHaveLength(1);
    expect(list.current).not.toContain(a);
  });
});
