// The ImageBuilder's texts, parsed or written: make info, manifests, opkg/apk errors, package
// indexes (opkg Packages, apk index.json), feeds.conf, the repositories file and usign keys.
export * from "./apk-index.ts";
export * from "./feeds-conf.ts";
export * from "./index-names.ts";
export * from "./make-info.ts";
export * from "./manifest.ts";
export * from "./opkg-packages.ts";
export * from "./package-errors.ts";
export * from "./repository-files.ts";
export * from "./usign.ts";
