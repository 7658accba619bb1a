export {
  applyNftables,
  type GuardedNetwork,
  type GuardOptions,
  guardBuildNetwork,
  guardedNetwork,
  guardRemoval,
  guardRuleset,
  guardTableName,
  hostAddresses,
  hostPortsOf,
  unguardBuildNetwork,
} from "./build-network-guard.ts";
export {
  GUARD_CONTAINER_LABEL,
  type GuardState,
  type GuardVerdict,
  networkGuardVerdict,
  readLocalGuard,
  readNetworkGuard,
  UnguardedNetworkError,
} from "./network-guard-check.ts";
export {
  type GuardServiceConfig,
  guardPresent,
  installNetworkGuard,
  runNetworkGuard,
} from "./network-guard-service.ts";
export { type RunningWorker, type StartWorkerOptions, startWorker } from "./worker.ts";
