export {
  createGateway,
  type GatewayOptions,
  PREPARE_PATHS,
  type Tier,
  tierFor,
} from "./gateway.ts";
export { type GatewaySettings, readGatewaySettings } from "./gateway-settings.ts";
export { type RoundRobinLookup, roundRobinLookup } from "./round-robin-lookup.ts";
