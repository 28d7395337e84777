export class SnapshotError extends Error {
  override name = 'SnapshotError';
}
