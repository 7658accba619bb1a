/** Shapes of the upstream metadata files, as OpenWrt's download server publishes them. */

export interface VersionsJson {
  stable_version?: string;
  oldstable_version?: string;
  upcoming_version?: string | null;
  versions_list?: string[];
}

/** `.targets.json`: target → package architecture. */
export type TargetsJson = Record<string, string>;

export interface ProfileImage {
  name: string;
  type: string;
  filesystem?: string;
  sha256?: string;
  sha256_unsigned?: string;
}

export interface ProfileEntry {
  image_prefix?: string;
  images?: ProfileImage[];
  supported_devices?: string[];
  titles?: Record<string, string>[];
  device_packages?: string[];
  [key: string]: unknown;
}

export interface LinuxKernel {
  version: string;
  release: string;
  vermagic: string;
}

export interface ProfilesJson {
  arch_packages?: string;
  default_packages?: string[];
  metadata_version?: number;
  source_date_epoch?: number | string;
  target?: string;
  version_code?: string;
  version_number?: string;
  linux_kernel?: LinuxKernel;
  profiles: Record<string, ProfileEntry>;
  [key: string]: unknown;
}
