/** Untrusted image JSON (manifest, index, config) that does not match the spec; names the field. */
export class ImageFormatError extends Error {
  override name = 'ImageFormatError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}
