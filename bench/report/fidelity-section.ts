/**
 * The report's fidelity section: what models/fidelity.py measured on held-out
 * images (fidelity*.json in the results folder, one file per measurement).
 * Shown only when such files exist: the bench itself does not train or
 * measure fidelity, so a run without them says nothing about it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

const stat = z.object({ mean: z.number(), min: z.number(), max: z.number() });
const agreement = z.object({ agree: z.number().int(), of: z.number().int().positive() });
const fidelitySchema = z.object({
  format: z.literal('splitoculo-fidelity'),
  formatVersion: z.literal(1),
  label: z.string(),
  splitLayer: z.number().int(),
  images: z.string(),
  jpegQuality: z.number().int().nullable().optional(),
  summary: z.object({
    featureCosine: stat,
    featureCosineQuantised: stat,
    featureCosineDeployed: stat,
    mergedCosine: stat,
    answerAgreement: agreement,
    firstTokenAgreement: agreement.optional(),
    jpegAgreesWithExactCrop: agreement.optional(),
  }),
});

export type Fidelity = z.infer<typeof fidelitySchema>;

/** Every fidelity*.json in dir, by file name; a file that is not one is an error naming it. */
export function readFidelity(dir: string): Fidelity[] {
  const files = readdirSync(dir)
    .filter((f) => /^fidelity.*\.json$/.test(f))
    .sort();
  return files.map((f) => {
    const parsed = fidelitySchema.safeParse(JSON.parse(readFileSync(join(dir, f), 'utf8')));
    if (!parsed.success) throw new Error(`${join(dir, f)}: not a models/fidelity.py result (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message})`);
    return parsed.data;
  });
}

const cell = (s: z.infer<typeof stat>) => `${s.mean.toFixed(4)} (${s.min.toFixed(3)})`;
const ratio = (a: z.infer<typeof agreement> | undefined) => (a ? `${a.agree}/${a.of}` : '');

export function fidelitySection(dir: string): string[] {
  const runs = readFidelity(dir);
  if (runs.length === 0) return [];
  const lines = [
    '',
    '## Fidelity on held-out images',
    '',
    "From `models/fidelity.py` (PyTorch, same crops as the edge): mean token cosine to the teacher's features after L blocks with float tokens, after the uint8 round trip, and as deployed (plus the manifest's rescale); the merged visual tokens of the tail on those features against the whole tower on the image; and how many greedy answers of the same language model are identical on both paths (and their first tokens). Mean (worst image). Where the whole-picture path is the JPEG one, the last column says how often JPEG alone keeps the exact crop's answer: the yardstick for the neural path.",
    '',
    '| model | L | images | feature cosine | after uint8 | deployed | merged tokens | same answer | same first token | JPEG = exact crop |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of runs) {
    const s = r.summary;
    lines.push(
      `| ${r.label} | ${r.splitLayer} | \`${r.images}\`${r.jpegQuality ? ` (whole path JPEG Q${r.jpegQuality})` : ''} | ${cell(s.featureCosine)} | ${cell(s.featureCosineQuantised)} | ${cell(s.featureCosineDeployed)} | ${cell(s.mergedCosine)} | ${ratio(s.answerAgreement)} | ${ratio(s.firstTokenAgreement)} | ${ratio(s.jpegAgreesWithExactCrop)} |`,
    );
  }
  return lines;
}
