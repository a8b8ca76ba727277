import {
  CreateVpcEndpointCommand,
  DeleteVpcEndpointsCommand,
  DescribeRouteTablesCommand,
  DescribeVpcEndpointsCommand,
  ModifyVpcEndpointCommand,
  type EC2Client,
  type VpcEndpoint,
} from "@aws-sdk/client-ec2";
import type { StreamCluster } from "../api/types.js";
import { attempt, CloudStepError } from "./errors.js";
import { regionOf } from "./clients.js";
import { clusterIdentity, MANAGER, TAG_CLUSTER, TAG_CREATED_BY, TAG_MANAGED_BY, type CloudAction } from "./bucket.js";

/**
 * The S3 gateway endpoint of the cluster's VPC, so broker traffic to S3 stays off NAT.
 * A VPC has at most one useful S3 gateway endpoint and everything in the VPC shares it, so an
 * existing one is adopted (missing route tables are added to it, nothing is removed) and only
 * one the operator created for this cluster is ever deleted.
 */
export function s3ServiceName(sc: StreamCluster): string {
  return `com.amazonaws.${regionOf(sc)}.s3`;
}

const GONE = new Set(["deleted", "deleting", "failed", "rejected", "expired"]);

export interface EndpointResult {
  endpointId: string;
  state: string;
  routeTableIds: string[];
  actions: CloudAction[];
}

function vpcOf(sc: StreamCluster): string {
  const vpcId = sc.spec.vpcEndpoint?.vpcId;
  if (!vpcId) throw new CloudStepError({ reason: "VpcIdMissing", message: "vpcEndpoint.enabled is true but vpcEndpoint.vpcId is empty" });
  return vpcId;
}

async function routeTablesOf(ec2: EC2Client, sc: StreamCluster, vpcId: string): Promise<string[]> {
  const given = sc.spec.vpcEndpoint?.routeTableIds ?? [];
  if (given.length > 0) return [...new Set(given)].sort();
  const ids: string[] = [];
  let token: string | undefined;
  do {
    const page = await attempt(`listing route tables of ${vpcId} (DescribeRouteTables)`, () => ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: "vpc-id", Values: [vpcId] }], NextToken: token })));
    for (const t of page.RouteTables ?? []) if (t.RouteTableId) ids.push(t.RouteTableId);
    token = page.NextToken;
  } while (token);
  if (ids.length === 0) throw new CloudStepError({ reason: "NoRouteTables", message: `VPC ${vpcId} has no route tables to attach an S3 gateway endpoint to (DescribeRouteTables found none)` });
  return ids.sort();
}

async function findEndpoints(ec2: EC2Client, sc: StreamCluster, vpcId: string): Promise<VpcEndpoint[]> {
  const service = s3ServiceName(sc);
  const found: VpcEndpoint[] = [];
  let token: string | undefined;
  do {
    const page = await attempt(`looking for the S3 gateway endpoint of ${vpcId} (DescribeVpcEndpoints)`, () =>
      ec2.send(new DescribeVpcEndpointsCommand({ Filters: [{ Name: "vpc-id", Values: [vpcId] }, { Name: "service-name", Values: [service] }], NextToken: token })),
    );
    found.push(...(page.VpcEndpoints ?? []));
    token = page.NextToken;
  } while (token);
  // Filtered again here: not every EC2-compatible API applies every filter.
  return found.filter((e) => e.VpcId === vpcId && e.ServiceName === service && (e.VpcEndpointType ?? "Gateway") === "Gateway" && !GONE.has((e.State ?? "").toLowerCase()));
}

const createdByMe = (e: VpcEndpoint, me: string) => e.Tags?.some((t) => t.Key === TAG_CREATED_BY && t.Value === me) ?? false;

export async function ensureEndpoint(ec2: EC2Client, sc: StreamCluster): Promise<EndpointResult> {
  const vpcId = vpcOf(sc);
  const me = clusterIdentity(sc);
  const wanted = await routeTablesOf(ec2, sc, vpcId);
  const existing = await findEndpoints(ec2, sc, vpcId);
  const mine = existing.find((e) => createdByMe(e, me)) ?? existing[0];
  if (!mine) {
    const res = await attempt(`creating the S3 gateway endpoint of ${vpcId} on ${wanted.join(", ")} (CreateVpcEndpoint)`, () =>
      ec2.send(
        new CreateVpcEndpointCommand({
          VpcEndpointType: "Gateway",
          VpcId: vpcId,
          ServiceName: s3ServiceName(sc),
          RouteTableIds: wanted,
          TagSpecifications: [
            {
              ResourceType: "vpc-endpoint",
              Tags: [
                { Key: "Name", Value: `floe-${sc.metadata.name}-s3` },
                { Key: TAG_CLUSTER, Value: me },
                { Key: TAG_MANAGED_BY, Value: MANAGER },
                { Key: TAG_CREATED_BY, Value: me },
              ],
            },
          ],
        }),
      ),
    );
    const ep = res.VpcEndpoint;
    if (!ep?.VpcEndpointId) throw new CloudStepError({ reason: "EndpointNotReturned", message: `CreateVpcEndpoint in ${vpcId} answered without an endpoint id` });
    return { endpointId: ep.VpcEndpointId, state: ep.State ?? "pending", routeTableIds: ep.RouteTableIds ?? wanted, actions: [{ reason: "EndpointCreated", message: `Created S3 gateway endpoint ${ep.VpcEndpointId} in ${vpcId} on route tables ${wanted.join(", ")}` }] };
  }
  const have = new Set(mine.RouteTableIds ?? []);
  const missing = wanted.filter((id) => !have.has(id));
  const actions: CloudAction[] = [];
  if (missing.length > 0) {
    await attempt(`adding route tables ${missing.join(", ")} to S3 gateway endpoint ${mine.VpcEndpointId} (ModifyVpcEndpoint)`, () =>
      ec2.send(new ModifyVpcEndpointCommand({ VpcEndpointId: mine.VpcEndpointId!, AddRouteTableIds: missing })),
    );
    const whose = createdByMe(mine, me) ? "" : "existing ";
    actions.push({ reason: "EndpointRouteTablesAdded", message: `Added route tables ${missing.join(", ")} to ${whose}S3 gateway endpoint ${mine.VpcEndpointId} in ${vpcId}` });
  }
  return { endpointId: mine.VpcEndpointId!, state: mine.State ?? "available", routeTableIds: [...have, ...missing].sort(), actions };
}

/** Deletes the endpoint only if the operator created it for this cluster; an adopted one serves the whole VPC. */
export async function deleteEndpointIfCreated(ec2: EC2Client, sc: StreamCluster): Promise<CloudAction[]> {
  const vpcId = sc.spec.vpcEndpoint?.vpcId;
  if (!vpcId) return [];
  const me = clusterIdentity(sc);
  const endpoints = await findEndpoints(ec2, sc, vpcId);
  const ours = endpoints.filter((e) => createdByMe(e, me));
  const actions: CloudAction[] = endpoints.filter((e) => !createdByMe(e, me)).map((e) => ({ reason: "EndpointRetained", message: `Kept S3 gateway endpoint ${e.VpcEndpointId} in ${vpcId}: the operator did not create it and other workloads in the VPC may use it` }));
  if (ours.length === 0) return actions;
  const ids = ours.map((e) => e.VpcEndpointId!);
  const res = await attempt(`deleting S3 gateway endpoint ${ids.join(", ")} (DeleteVpcEndpoints)`, () => ec2.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: ids })));
  const failed = res.Unsuccessful?.filter((u) => u.Error?.Code !== "InvalidVpcEndpoint.NotFound") ?? [];
  if (failed.length > 0) {
    const e = failed[0]!.Error;
    throw new CloudStepError({ reason: e?.Code && /^[A-Z][A-Za-z0-9.]*$/.test(e.Code) ? e.Code.replace(/\./g, "") : "EndpointDeleteFailed", message: `deleting S3 gateway endpoint ${failed[0]!.ResourceId} (DeleteVpcEndpoints): ${e?.Code}: ${e?.Message}` });
  }
  actions.push({ reason: "EndpointDeleted", message: `Deleted S3 gateway endpoint ${ids.join(", ")} in ${vpcId}, as deletionPolicy Delete asks` });
  return actions;
}
