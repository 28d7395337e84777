import { ImageFormatError } from './errors.js';
import { array, digest, object, optionalObject, optionalString, parseJson, string } from './validate.js';
import type { Digest } from './digest.js';

/** The runtime defaults of an image (`config` in the image config JSON). */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  Healthcheck?: {
    Test?: string[];
    Interval?: number;
    Timeout?: number;
    StartPeriod?: number;
    StartInterval?: number;
    Retries?: number;
  };
  OnBuild?: string[] | null;
  Shell?: string[];
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** The image config blob (OCI image-spec config.md; Docker's is a superset). */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  config?: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: HistoryEntry[];
  [extra: string]: unknown;
}

export function parseImageConfig(bytes: Uint8Array | string): ImageConfig {
  const o = object(parseJson(bytes, 'config'), 'config');
  const rootfs = object(o.rootfs, 'rootfs');
  if (string(rootfs.type, 'rootfs.type') !== 'layers') throw new ImageFormatError('rootfs.type', 'must be "layers"');
  const diffIds = array(rootfs.diff_ids, 'rootfs.diff_ids').map((d, i) => digest(d, `rootfs.diff_ids[${i}]`));
  optionalObject(o.config, 'config.config');
  const history = o.history === undefined || o.history === null ? undefined : array(o.history, 'history');
  history?.forEach((h, i) => object(h, `history[${i}]`));
  optionalString(o.created, 'created');
  return {
    ...(o as object),
    architecture: string(o.architecture, 'architecture'),
    os: string(o.os, 'os'),
    rootfs: { type: 'layers', diff_ids: diffIds },
  } as ImageConfig;
}

/** Non-empty layers of the history must match diff_ids one to one; callers use this to pair them. */
export function layerHistory(config: ImageConfig): HistoryEntry[] {
  return (config.history ?? []).filter((h) => !h.empty_layer);
}
