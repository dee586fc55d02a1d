/**
 * Temporal's failure for a start under an id that is already running (a child workflow here), as a
 * class to match with instanceof: @temporalio/workflow throws it but does not export it, and workflow
 * code may import only src/api, src/domain and @temporalio/workflow.
 */
export { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
