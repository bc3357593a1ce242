// Placeholder: the reference parser is being written (see src/oci/reference.ts owner). Shape is fixed here.

/** A repository on a registry, normalised as Docker does (`docker.io`, `library/`). */
export interface Repository {
  /** Registry host with optional port, e.g. `docker.io`, `localhost:5000`, `[::1]:5000`. */
  readonly registry: string;
  /** Repository path, e.g. `library/nginx`. */
  readonly path: string;
}

/** A parsed image reference. `digest` wins over `tag` for everything that is verified. */
export interface ImageReference extends Repository {
  readonly tag?: string;
  readonly digest?: string;
  /** The text the user wrote. */
  readonly original: string;
}
