/** The items of every empty Fifo until its first push: an empty array each costs 32 bytes per session. */
const NONE: never[] = [];

/** A FIFO with O(1) shift: session queues are drained from the head under load. */
export class Fifo<T> {
  private items: (T | undefined)[] = NONE;
  private head = 0;
  // A journal since the last mark(), so a store can write what changed rather than the whole queue.
  private shiftedSinceMark = 0;
  private pushedSinceMark = 0;
  private lengthAtMark = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    if (this.items === NONE) this.items = [item];
    else this.items.push(item);
    this.pushedSinceMark++;
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    this.shiftedSinceMark++;
    // Compact once the dead prefix dominates, so memory follows the live length.
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  clear(): void {
    this.shiftedSinceMark += this.length;
    this.items = NONE;
    this.head = 0;
  }

  /** Starts a new journal: the store now holds exactly these items. */
  mark(): void {
    this.shiftedSinceMark = 0;
    this.pushedSinceMark = 0;
    this.lengthAtMark = this.length;
  }

  /**
   * What changed since mark(): how many items to drop from the head of the stored copy, and
   * the items to append to it; undefined when items pushed since were shifted off again (the
   * change is then no cheaper than the whole queue).
   */
  changes(): { length: number; shifted: number; pushed: T[] } | undefined {
    if (this.shiftedSinceMark > this.lengthAtMark) return undefined;
    const pushed = this.pushedSinceMark === 0 ? [] : (this.items.slice(this.items.length - this.pushedSinceMark) as T[]);
    return { length: this.lengthAtMark, shifted: this.shiftedSinceMark, pushed };
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i] as T;
  }
}
