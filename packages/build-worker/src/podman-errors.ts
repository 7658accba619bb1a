/** The Podman API (through dockerode) answered 404: no such container, image or path. */
export function isNotFound(error: unknown): boolean {
  return (error as { statusCode?: number } | null)?.statusCode === 404;
}
