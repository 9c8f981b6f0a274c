// Home Assistant's MQTT discovery schema, written down from its documentation
// (home-assistant.io/integrations/mqtt "MQTT discovery", and the sensor,
// binary_sensor, button, text, switch and number MQTT integration pages),
// for the options SplitOculo uses and their documented neighbours. Strict:
// an option HA does not document for that component is an error here, so a
// typo cannot silently become an option HA ignores. `object_id` is absent on
// purpose: HA deprecated it for `default_entity_id` (2025.10; gone in 2026.4).
import { z } from 'zod';

const topic = z
  .string()
  .min(1)
  .refine((t) => !/[+#]/.test(t), 'a topic to publish or subscribe to exactly, no wildcards');
const template = z.string().regex(/\{\{.*\}\}/s, 'a Jinja template');

/** Discovery topic: <discovery_prefix>/<component>/[<node_id>/]<object_id>/config; ids of [a-zA-Z0-9_-]. */
export const discoveryTopic = /^[A-Za-z0-9_/-]+\/(sensor|binary_sensor|button|text|switch|number)\/(?:[A-Za-z0-9_-]+\/)?[A-Za-z0-9_-]+\/config$/;

export const deviceSchema = z
  .object({
    identifiers: z.union([z.string(), z.array(z.string().min(1)).min(1)]),
    connections: z.array(z.tuple([z.string(), z.string()])).optional(),
    name: z.string().min(1),
    manufacturer: z.string().optional(),
    model: z.string().optional(),
    model_id: z.string().optional(),
    sw_version: z.string().optional(),
    hw_version: z.string().optional(),
    serial_number: z.string().optional(),
    configuration_url: z.string().url().optional(),
    suggested_area: z.string().optional(),
    via_device: z.string().optional(),
  })
  .strict();

export const originSchema = z.object({ name: z.string().min(1), sw_version: z.string().optional(), support_url: z.string().url().optional() }).strict();

/** Options every MQTT entity takes (the "availability" family, device, origin, ids, naming, attributes). */
const common = {
  name: z.string().min(1).nullable(),
  unique_id: z.string().min(1),
  default_entity_id: z.string().regex(/^[a-z_]+\.[a-z0-9_]+$/, '<domain>.<object id>, lowercase'),
  device: deviceSchema,
  origin: originSchema,
  availability_topic: topic.optional(),
  availability_template: template.optional(),
  availability_mode: z.enum(['all', 'any', 'latest']).optional(),
  payload_available: z.string().optional(),
  payload_not_available: z.string().optional(),
  enabled_by_default: z.boolean().optional(),
  entity_category: z.enum(['config', 'diagnostic']).optional(),
  entity_picture: z.string().optional(),
  icon: z
    .string()
    .regex(/^mdi:[a-z0-9-]+$/)
    .optional(),
  json_attributes_topic: topic.optional(),
  json_attributes_template: template.optional(),
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).optional(),
  encoding: z.string().optional(),
};
const commanded = { command_topic: topic, command_template: template.optional(), retain: z.boolean().optional() };

export const HA_SCHEMAS = {
  sensor: z
    .object({
      ...common,
      state_topic: topic,
      value_template: template.optional(),
      unit_of_measurement: z.string().optional(),
      device_class: z.enum(['duration', 'data_size', 'data_rate', 'timestamp', 'enum']).optional(),
      state_class: z.enum(['measurement', 'total', 'total_increasing']).optional(),
      suggested_display_precision: z.number().int().nonnegative().optional(),
      expire_after: z.number().int().nonnegative().optional(),
      force_update: z.boolean().optional(),
    })
    .strict(),
  binary_sensor: z
    .object({
      ...common,
      state_topic: topic,
      value_template: template.optional(),
      payload_on: z.string().optional(),
      payload_off: z.string().optional(),
      device_class: z.enum(['connectivity', 'problem', 'running', 'motion', 'occupancy']).optional(),
      expire_after: z.number().int().nonnegative().optional(),
      off_delay: z.number().int().nonnegative().optional(),
    })
    .strict(),
  button: z.object({ ...common, ...commanded, payload_press: z.string().optional(), device_class: z.enum(['identify', 'restart', 'update']).optional() }).strict(),
  text: z
    .object({
      ...common,
      ...commanded,
      state_topic: topic.optional(),
      value_template: template.optional(),
      min: z.number().int().min(0).max(255).optional(),
      max: z.number().int().min(0).max(255).optional(),
      mode: z.enum(['text', 'password']).optional(),
      pattern: z.string().optional(),
    })
    .strict()
    .refine((c) => (c.min ?? 0) <= (c.max ?? 255), 'min <= max'),
  switch: z
    .object({
      ...common,
      ...commanded,
      state_topic: topic.optional(),
      value_template: template.optional(),
      payload_on: z.string().optional(),
      payload_off: z.string().optional(),
      state_on: z.string().optional(),
      state_off: z.string().optional(),
      optimistic: z.boolean().optional(),
      device_class: z.enum(['outlet', 'switch']).optional(),
    })
    .strict(),
  number: z
    .object({
      ...common,
      ...commanded,
      state_topic: topic.optional(),
      value_template: template.optional(),
      min: z.number().optional(),
      max: z.number().optional(),
      step: z.number().positive().optional(),
      mode: z.enum(['auto', 'box', 'slider']).optional(),
      unit_of_measurement: z.string().optional(),
      device_class: z.enum(['duration']).optional(),
      optimistic: z.boolean().optional(),
    })
    .strict()
    .refine((c) => (c.min ?? 1) < (c.max ?? 100), 'min < max'),
} as const;

export type HaComponentName = keyof typeof HA_SCHEMAS;
