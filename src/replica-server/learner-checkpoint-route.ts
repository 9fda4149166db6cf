/**
 * LEARNER_CHECKPOINT_HTTP_PATH on a replica server's HTTP server: the files of the checkpoints
 * its replicas hold for learners (src/replica/learner-source.ts), in bulk and without msgpack framing — the
 * same bytes as `replica.checkpoint_chunk`. FILES names this server's HTTP address
 * (`httpAddress`) once it listens, so learners stream from here and fall back to CHUNK.
 *
 * The query is checked strictly, as the dup checkpoint route's is: `app_id`, `partition_index`,
 * `id` and `file`, each exactly once and nothing else; a plain file name. Only a regular file
 * directly inside a checkpoint that a hosted replica currently holds for learners is served
 * (404 otherwise, and once the checkpoint is evicted); the range is checked by the router (416).
 */
import type { FileBody, Route } from "../http/index.ts";
import * as v from "../protocol/validate.ts";
import {
  CHECKPOINT_ID_CHARS_MAX,
  type CheckpointSource,
  decodeCheckpointFileQuery,
  type HeldFileRequest,
  LEARNER_CHECKPOINT_HTTP_PATH,
} from "./checkpoint-transfer.ts";

export function decodeLearnerCheckpointQuery(query: URLSearchParams): HeldFileRequest {
  return decodeCheckpointFileQuery(query, (text) => {
    const id = v.string(text, "id", CHECKPOINT_ID_CHARS_MAX);
    if (id.length === 0) throw new v.TalariaErrorForField("id", "a checkpoint id", id);
    return id;
  });
}

/** The route serving the checkpoints `source` holds for learners. */
export function learnerCheckpointRoute(source: CheckpointSource): Route {
  return {
    path: LEARNER_CHECKPOINT_HTTP_PATH,
    description:
      "a file of a checkpoint held for learners (?app_id=&partition_index=&id=&file=, Range: bytes=<start>-)",
    handler: async (query): Promise<FileBody> => {
      const held = await source.heldFile(decodeLearnerCheckpointQuery(query));
      return { kind: "file", path: held.path, bytes: held.bytes };
    },
  };
}
