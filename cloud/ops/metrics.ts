/** Prometheus metrics of the cloud worker, served on an optional port. */
import { Counter, Gauge, Histogram } from 'prom-client';
import { ServedMetrics } from '../../runtime/metrics-server.ts';

const SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class CloudMetrics extends ServedMetrics {
  readonly received = new Counter({ name: 'splitoculo_cloud_frames_received_total', help: 'frame messages taken from the broker', registers: [this.registry] });
  readonly answered = new Counter({ name: 'splitoculo_cloud_frames_answered_total', help: 'frames answered with text', registers: [this.registry] });
  readonly failed = new Counter({ name: 'splitoculo_cloud_frames_failed_total', help: 'frames answered with an error, by code', labelNames: ['reason'], registers: [this.registry] });
  readonly duplicates = new Counter({
    name: 'splitoculo_cloud_duplicates_total',
    help: 'frames seen again, answered from the dedup store or joined to the copy in progress',
    registers: [this.registry],
  });
  readonly ignored = new Counter({ name: 'splitoculo_cloud_messages_ignored_total', help: 'messages on topics that are not frame topics', registers: [this.registry] });
  readonly publishFailures = new Counter({
    name: 'splitoculo_cloud_publish_failures_total',
    help: 'answers the broker did not acknowledge (the frame stays unacknowledged)',
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({ name: 'splitoculo_cloud_batch_size', help: 'frames per cloud.onnx run', buckets: [1, 2, 4, 8, 16, 32, 64], registers: [this.registry] });
  readonly stageSeconds = new Histogram({ name: 'splitoculo_cloud_stage_seconds', help: 'time per frame in each stage', labelNames: ['stage'], buckets: SECONDS, registers: [this.registry] });
  readonly pending = new Gauge({ name: 'splitoculo_cloud_pending_frames', help: 'frames taken and not yet acknowledged', registers: [this.registry] });
  readonly brokerUp = new Gauge({ name: 'splitoculo_cloud_broker_up', help: '1 while connected to the broker', registers: [this.registry] });
}
