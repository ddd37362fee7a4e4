// A bounded id -> RuntimeMeta cache for the event sources: it outlives the container (an event
// of a container that is gone must still find its name) for `retentionMs` after the exit, like
// the registry's exitedRetentionMs, and holds at most `maxEntries` ids. Over the bound the
// oldest exited entry goes first, else the oldest entry; every drop is counted.

import type { RuntimeMeta } from '../sources.js';

export interface MetaCacheStats {
  entries: number;
  /** dropped to stay within maxEntries */
  evicted: number;
  /** dropped retentionMs after the exit */
  expired: number;
}

interface Slot {
  meta: RuntimeMeta;
  /** Date.now() of the exit, 0 while it runs (or while no exit was seen) */
  exitedAt: number;
  /** time (ms) of the newest event applied: older ones (a replay) do not undo newer ones */
  eventAt: number;
}

export class MetaCache {
  private readonly slots = new Map<string, Slot>();
  private evicted = 0;
  private expired = 0;
  private lastSweep = 0;

  constructor(
    readonly maxEntries = 4096,
    readonly retentionMs = 10 * 60 * 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Stores what an event told of a container. `eventAt` orders events of one id: an older one
   * than the newest applied is ignored (false), so a replayed 'start' cannot revive an exit.
   */
  set(meta: RuntimeMeta, eventAt = this.now()): boolean {
    const cur = this.slots.get(meta.id);
    if (cur && eventAt < cur.eventAt) return false;
    // re-inserted at the end: the Map's order is the age order eviction uses
    this.slots.delete(meta.id);
    this.slots.set(meta.id, { meta, exitedAt: cur?.exitedAt ?? 0, eventAt });
    this.bound();
    return true;
  }

  /** The container exited (at `at`, ms). False when unknown or when a newer event was applied. */
  markExited(id: string, at = this.now(), eventAt = at): boolean {
    const cur = this.slots.get(id);
    if (!cur || eventAt < cur.eventAt) return false;
    if (!cur.exitedAt) cur.exitedAt = at;
    cur.eventAt = eventAt;
    return true;
  }

  /** A container that runs again (podman start of a stopped one) is no longer exited. */
  markRunning(id: string, eventAt = this.now()): void {
    const cur = this.slots.get(id);
    if (!cur || eventAt < cur.eventAt) return;
    cur.exitedAt = 0;
    cur.eventAt = eventAt;
  }

  get(id: string): RuntimeMeta | undefined {
    const s = this.slots.get(id);
    if (!s) return undefined;
    if (s.exitedAt && this.now() - s.exitedAt >= this.retentionMs) {
      this.slots.delete(id);
      this.expired++;
      return undefined;
    }
    return s.meta;
  }

  exitedAt(id: string): number {
    return this.slots.get(id)?.exitedAt ?? 0;
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  ids(): IterableIterator<string> {
    return this.slots.keys();
  }

  /** Drops the entries past their retention (at most once a second; set() calls it). */
  sweep(force = false): void {
    const now = this.now();
    if (!force && now - this.lastSweep < 1000) return;
    this.lastSweep = now;
    for (const [id, s] of this.slots) {
      if (s.exitedAt && now - s.exitedAt >= this.retentionMs) {
        this.slots.delete(id);
        this.expired++;
      }
    }
  }

  stats(): MetaCacheStats {
    return { entries: this.slots.size, evicted: this.evicted, expired: this.expired };
  }

  private bound(): void {
    this.sweep();
    while (this.slots.size > this.maxEntries) {
      let victim: string | undefined;
      for (const [id, s] of this.slots) {
        if (s.exitedAt) {
          victim = id;
          break;
        }
      }
      victim ??= this.slots.keys().next().value;
      if (victim === undefined) return;
      this.slots.delete(victim);
      this.evicted++;
    }
  }
}
