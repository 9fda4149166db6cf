/** The target side of duplication: checks on a receiving replica (apply is storage/apply.ts). */
export {
  checkDuplicateRequest,
  type DuplicateReceiverPolicy,
  duplicateReceiverPolicy,
} from "./check-duplicate.ts";
