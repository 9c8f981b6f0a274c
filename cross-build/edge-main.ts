// The edge binary: native addons first, then the command line.
import './sea-entry.ts';
import '../daemon/bin/splitoculo-edge.ts';
