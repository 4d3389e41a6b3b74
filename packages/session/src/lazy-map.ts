/** Iterated in place of a table not made yet; never written. */
const EMPTY = new Map<never, never>();

/**
 * A Map whose hash table is made by its first set(). An empty Map costs about 190 bytes of
 * heap; a session has four, and an idle client's stay empty (nothing in flight, no QoS 2).
 * Otherwise it behaves as the Map it wraps: iteration order, clear() during an iteration.
 */
export class LazyMap<K, V> implements Map<K, V> {
  private map: Map<K, V> | undefined;

  get size(): number {
    return this.map === undefined ? 0 : this.map.size;
  }

  get(key: K): V | undefined {
    return this.map?.get(key);
  }

  has(key: K): boolean {
    return this.map !== undefined && this.map.has(key);
  }

  set(key: K, value: V): this {
    (this.map ??= new Map()).set(key, value);
    return this;
  }

  delete(key: K): boolean {
    return this.map !== undefined && this.map.delete(key);
  }

  clear(): void {
    this.map?.clear();
  }

  forEach(callback: (value: V, key: K, map: Map<K, V>) => void, thisArg?: unknown): void {
    this.map?.forEach((value, key) => callback.call(thisArg, value, key, this));
  }

  entries(): MapIterator<[K, V]> {
    return (this.map ?? (EMPTY as Map<K, V>)).entries();
  }

  keys(): MapIterator<K> {
    return (this.map ?? (EMPTY as Map<K, V>)).keys();
  }

  values(): MapIterator<V> {
    return (this.map ?? (EMPTY as Map<K, V>)).values();
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return 'Map';
  }
}
