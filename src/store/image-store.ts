import type { Descriptor } from '../image/descriptor.js';

export interface ImageRecord {
  /** Normalised name, e.g. `docker.io/library/busybox:latest`. */
  name: string;
  /** The manifest or index the name points at. */
  target: Descriptor;
}

/**
 * Image names mapped to manifest descriptors; each update is an atomic rename. Names given in
 * any form docker accepts (`busybox`, `busybox:1`, `localhost:5000/x`) are normalised first.
 */
export interface ImageStore {
  get(name: string): Promise<ImageRecord | undefined>;
  set(name: string, target: Descriptor): Promise<void>;
  delete(name: string): Promise<boolean>;
  list(): Promise<ImageRecord[]>;
}
