// The cloud binary: native addons first, then the command line.
import './sea-entry.ts';
import '../cloud/bin/splitoculo-cloud.ts';
