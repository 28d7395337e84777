/** OCI whiteouts (image-spec layer.md): `.wh.<name>` deletes `<name>`; `.wh..wh..opq` hides a dir's lower contents. */
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

/** overlayfs marks an opaque directory with this xattr set to `y` (trusted., or user. with userxattr). */
export const OVERLAY_OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'];

/** overlayfs-private xattrs that must never leak into a layer. */
export function isOverlayXattr(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');
}
