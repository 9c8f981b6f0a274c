/**
 * Home Assistant MQTT discovery payloads for one board: one HA device, eight
 * entities. Built from HA's documented discovery schema (one retained JSON
 * config per entity on `<discovery prefix>/<component>/<node id>/<object id>/config`)
 * and zigbee2mqtt's conventions (a stable `unique_id`, a `default_entity_id`
 * — HA's replacement for the deprecated `object_id` —, the `device` block,
 * `origin`).
 *
 * Where HA reads state:
 * - the retained status document (<prefix>/<device>/status), with templates:
 *   queue depth, link round trip, connectivity, prompt, paused, interval, and
 *   every entity's availability (the MQTT will sets it offline);
 * - <prefix>/<device>/ha/answer (retained, written by the daemon): the last
 *   answer, cut to HA's 255-character state limit, with the full text and the
 *   prompt as attributes.
 * Command entities publish plain values (HA's defaults: PRESS, ON/OFF, the
 * text, the number) to <prefix>/<device>/ha/<entity>/set; the daemon turns
 * them into its ordinary commands (homeassistant.ts).
 */
import { VERSION } from '../../runtime/version.ts';

export const HA_COMPONENTS = ['sensor', 'binary_sensor', 'button', 'text', 'switch', 'number'] as const;
export type HaComponent = (typeof HA_COMPONENTS)[number];

/** HA's limit on an entity's state (and on a text entity's value). */
export const HA_STATE_MAX = 255;

/** The entities that take commands, by the last-but-one level of their command topic. */
export const HA_COMMAND_ENTITIES = ['capture', 'prompt', 'paused', 'interval'] as const;
export type HaCommandEntity = (typeof HA_COMMAND_ENTITIES)[number];

export interface DiscoveryContext {
  discoveryPrefix: string;
  topicPrefix: string;
  deviceId: string;
  /** The device's display name in HA. */
  name: string;
  /** The edge model's name (the manifest's), for the device's model. */
  model: string | undefined;
}

export interface DiscoveryMessage {
  topic: string;
  config: Record<string, unknown>;
}

/** The device id as HA's ids take it: node and object ids allow [a-zA-Z0-9_-], entity ids [a-z0-9_]. */
export function haNodeId(deviceId: string): string {
  return deviceId.replace(/[^a-zA-Z0-9_-]/g, '_');
}

function entityIdPart(deviceId: string): string {
  return deviceId.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

export function haCommandTopic(topicPrefix: string, deviceId: string, entity: HaCommandEntity): string {
  return `${topicPrefix}/${deviceId}/ha/${entity}/set`;
}

export function haAnswerTopic(topicPrefix: string, deviceId: string): string {
  return `${topicPrefix}/${deviceId}/ha/answer`;
}

/** Cuts to at most `max` characters as HA counts them (code points), never splitting a surrogate pair. */
export function cutToCharacters(text: string, max = HA_STATE_MAX): string {
  const characters = Array.from(text);
  return characters.length <= max ? text : characters.slice(0, max).join('');
}

export function discoveryMessages(context: DiscoveryContext): DiscoveryMessage[] {
  const { discoveryPrefix, topicPrefix, deviceId } = context;
  const status = `${topicPrefix}/${deviceId}/status`;
  const node = haNodeId(deviceId);
  const device = {
    identifiers: [`splitoculo_${node}`],
    name: context.name,
    manufacturer: 'SplitOculo',
    model: context.model ? `SplitOculo edge (${context.model})` : 'SplitOculo edge',
    sw_version: VERSION,
  };
  const origin = { name: 'splitoculo-edge', sw_version: VERSION };
  const availability = { availability_topic: status, availability_template: '{{ value_json.state }}', payload_available: 'online', payload_not_available: 'offline' };
  const entity = (component: HaComponent, object: string, name: string, fields: Record<string, unknown>, available = true): DiscoveryMessage => ({
    topic: `${discoveryPrefix}/${component}/${node}/${object}/config`,
    config: {
      name,
      unique_id: `splitoculo_${node}_${object}`,
      default_entity_id: `${component}.splitoculo_${entityIdPart(deviceId)}_${object}`,
      ...fields,
      ...(available && availability),
      device,
      origin,
    },
  });
  const command = (object: HaCommandEntity) => haCommandTopic(topicPrefix, deviceId, object);
  const answer = haAnswerTopic(topicPrefix, deviceId);
  return [
    entity('sensor', 'last_answer', 'Last answer', {
      state_topic: answer,
      value_template: '{{ value_json.answer }}',
      json_attributes_topic: answer,
      json_attributes_template: '{{ value_json.attributes | tojson }}',
      icon: 'mdi:comment-text-outline',
    }),
    entity('sensor', 'queue_depth', 'Queue depth', {
      state_topic: status,
      value_template: "{{ value_json.get('queue', {}).get('frames', 0) }}",
      unit_of_measurement: 'frames',
      state_class: 'measurement',
      entity_category: 'diagnostic',
      icon: 'mdi:tray-full',
    }),
    entity('sensor', 'link_round_trip', 'Link round trip', {
      state_topic: status,
      value_template: "{{ value_json.get('link', {}).get('rttMs') }}",
      unit_of_measurement: 'ms',
      device_class: 'duration',
      state_class: 'measurement',
      suggested_display_precision: 0,
      entity_category: 'diagnostic',
    }),
    // Its state is the availability itself: it reads offline (the will) instead of becoming unavailable.
    entity(
      'binary_sensor',
      'connectivity',
      'Connectivity',
      { state_topic: status, value_template: '{{ value_json.state }}', payload_on: 'online', payload_off: 'offline', device_class: 'connectivity', entity_category: 'diagnostic' },
      false,
    ),
    entity('button', 'capture', 'Capture', { command_topic: command('capture'), payload_press: 'PRESS', icon: 'mdi:camera' }),
    entity('text', 'prompt', 'Prompt', {
      command_topic: command('prompt'),
      state_topic: status,
      value_template: `{{ (value_json.get('prompt') or '')[:${HA_STATE_MAX}] }}`,
      min: 0,
      max: HA_STATE_MAX,
      mode: 'text',
      icon: 'mdi:comment-question-outline',
    }),
    entity('switch', 'paused', 'Paused', {
      command_topic: command('paused'),
      state_topic: status,
      value_template: "{{ 'ON' if value_json.get('paused') else 'OFF' }}",
      payload_on: 'ON',
      payload_off: 'OFF',
      state_on: 'ON',
      state_off: 'OFF',
      icon: 'mdi:pause',
    }),
    entity('number', 'interval', 'Capture interval', {
      command_topic: command('interval'),
      state_topic: status,
      value_template: "{{ value_json.get('intervalMs', 0) / 1000 }}",
      min: 0,
      max: 86_400,
      step: 0.1,
      mode: 'box',
      unit_of_measurement: 's',
      device_class: 'duration',
      icon: 'mdi:timer-outline',
    }),
  ];
}
