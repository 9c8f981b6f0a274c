// The command contract lives in protocol/commands.ts, beside the topics and the status document.
export { commandSchema, CommandError, parseCommand, type EdgeCommand } from '../../protocol/commands.ts';
