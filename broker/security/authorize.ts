import { superUsersOf, type BrokerConfig } from "../config.js";

/**
 * Whether a principal may manage SCRAM users without an authorizer (FLOE_AUTHORIZER=none):
 * with FLOE_SUPER_USERS empty everyone may, as in Kafka without `authorizer.class.name`;
 * with it set, only super users may. With FLOE_AUTHORIZER=acl the dispatcher has already
 * checked DESCRIBE / ALTER on the CLUSTER, so this adds nothing.
 */
export function mayManageUsers(config: BrokerConfig, principal: string): boolean {
  if (config.authorizer === "acl") return true;
  const supers = superUsersOf(config);
  return supers.size === 0 || supers.has(principal);
}
