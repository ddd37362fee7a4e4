// Links pinned on bpffs (Collection.pinLinks): opened again by path, inspected, unpinned. A pinned
// link keeps its program attached after the process is gone, until unpinLink().

import { bpfError, isBpfError, withContext } from './errors.js';
import { native, type BpfAddon, type KernelLinkInfo, type KernelProgInfo } from './native.js';

/** Kernel info of a program by id (name, tag, the ids of the maps it uses); needs CAP_SYS_ADMIN. */
function progInfoById(id: number): KernelProgInfo {
  const addon = native();
  const fd = addon.progFdById(id);
  try {
    return addon.progInfo(fd);
  } finally {
    addon.closeFd(fd);
  }
}

/**
 * A link pinned on bpffs, opened by path (openPinnedLink). Its program stays attached while the
 * pin or any fd holds the link: close() drops this process's hold only, unpin() ends the link.
 */
export class PinnedLink {
  readonly id: number;
  readonly type: number;
  /** the attached program's id (0: the link was detached) */
  readonly progId: number;
  private isClosed = false;

  /** @internal use openPinnedLink() */
  constructor(
    readonly path: string,
    private readonly rawFd: number,
    info: KernelLinkInfo,
    private readonly addon: BpfAddon,
  ) {
    this.id = info.id;
    this.type = info.type;
    this.progId = info.progId;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get fd(): number {
    return this.live('link');
  }

  private live(what: string): number {
    if (this.isClosed) throw bpfError(`${what} ${this.path}: closed`, 'EBADF');
    return this.rawFd;
  }

  /**
   * Kernel info of the attached program: name, tag, the ids of the maps it uses. Opening a
   * program by id needs CAP_SYS_ADMIN (EPERM without, e.g. in the gadget pod): the id alone
   * (progId) needs nothing.
   */
  program(): KernelProgInfo {
    this.live('link');
    if (!this.progId) throw bpfError(`link ${this.path}: no program attached`, 'ENOENT');
    try {
      return progInfoById(this.progId);
    } catch (e) {
      throw withContext(e, `link ${this.path}`);
    }
  }

  /**
   * Removes the pin and closes this fd: unless another fd holds the link, it ends now and its
   * program is detached before this returns. False when the pin was already gone.
   */
  unpin(): boolean {
    this.live('unpin link');
    const removed = this.addon.unpinLink(this.path);
    this.close();
    return removed;
  }

  /** Closes this process's fd; the pin (if any) keeps the link. Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.addon.closeFd(this.rawFd);
  }
}

/**
 * Opens the link pinned at `path`; close() it when done. Throws `open pinned link <path>: ...`
 * with code ENOENT (no pin) or EINVAL (the pin is a map or a program, not a link).
 */
export function openPinnedLink(path: string): PinnedLink {
  const addon = native();
  const fd = addon.openPinnedLink(path);
  try {
    return new PinnedLink(path, fd, addon.linkInfo(fd), addon);
  } catch (e) {
    addon.closeFd(fd);
    throw e;
  }
}

/** Whether a link is pinned at `path` (false: nothing there, or another kind of object). */
export function isPinnedLink(path: string): boolean {
  try {
    openPinnedLink(path).close();
    return true;
  } catch (e) {
    if (isBpfError(e) && (e.code === 'ENOENT' || e.code === 'EINVAL')) return false;
    throw e;
  }
}

/**
 * Removes a link's pin (false: there was none). Unless another fd holds the link (a collection
 * that attached it, a PinnedLink), it ends now: its program is detached before this returns.
 * Throws EINVAL when the pin is not a link.
 */
export function unpinLink(path: string): boolean {
  return native().unpinLink(path);
}
