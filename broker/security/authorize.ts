import { superUsersOf, type BrokerConfig } from "../config.js";

/**
 * Whether a principal may manage SCRAM users (Kafka: DESCRIBE / ALTER on the CLUSTER). With
 * FLOE_SUPER_USERS empty there is no authorizer and everything is allowed, as in Kafka
 * without `authorizer.class.name`; with it set, only super users may.
 */
export function mayManageUsers(config: BrokerConfig, principal: string): boolean {
  const supers = superUsersOf(config);
  return supers.size === 0 || supers.has(principal);
}
