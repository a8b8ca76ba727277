import type { Logger } from "pino";
import type { KubeClient } from "./kube/client.js";
import { R } from "./kube/resources.js";

/** Kubernetes Events on a StreamCluster for every action and failure (`kubectl describe` shows them). */
export class EventRecorder {
  constructor(private readonly client: KubeClient, private readonly logger: Logger, private readonly component = "floe-operator") {}

  normal(obj: Involved, reason: string, message: string): Promise<void> {
    return this.record(obj, "Normal", reason, message);
  }

  warn(obj: Involved, reason: string, message: string): Promise<void> {
    return this.record(obj, "Warning", reason, message);
  }

  private async record(obj: Involved, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    const now = new Date().toISOString();
    const ns = obj.metadata.namespace ?? "default";
    try {
      await this.client.create(R.event, {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name: `${obj.metadata.name}.${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`, namespace: ns },
        involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: ns, uid: obj.metadata.uid },
        reason,
        message: message.slice(0, 1024),
        type,
        source: { component: this.component },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
    } catch (err) {
      // Events are best effort: never fail a reconcile because one could not be written.
      this.logger.debug({ err, reason }, "could not record event");
    }
  }
}

interface Involved {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string };
}
