using System.Text.Json;
using System.Text.Json.Nodes;
using BelizeMesh.Injector.Configuration;
using BelizeMesh.Injector.Injection;
using BelizeMesh.Injector.Kubernetes;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Injector.Admission;

/// <summary>How one admission request ended; each value is one <c>result</c> metric label.</summary>
internal enum AdmissionResult
{
    /// <summary>Allowed with a patch.</summary>
    Patched,

    /// <summary>Allowed unchanged (skipped, other kinds, failures under <c>failurePolicy: Ignore</c>).</summary>
    Allowed,

    /// <summary>Denied: the pod wants the sidecar and cannot get it under <c>failurePolicy: Fail</c>.</summary>
    Denied,

    /// <summary>400: the body is not an AdmissionReview v1.</summary>
    BadRequest,

    /// <summary>413: the body is over <c>maxRequestBytes</c>.</summary>
    PayloadTooLarge,

    /// <summary>415: the Content-Type is not <c>application/json</c>.</summary>
    UnsupportedMediaType,
}

/// <summary>The admission layer's answer: HTTP status, body and what to count.</summary>
internal readonly record struct AdmissionOutcome(int StatusCode, byte[] Body, bool IsJson, AdmissionResult Result, InjectionReason? Reason);

/// <summary>
/// The admission layer: decodes an AdmissionReview, applies the webhook's policy (kinds, operations, failure policy)
/// around the pure core, and encodes the answering review. No HTTP here, so tests call it directly.
/// </summary>
internal sealed partial class AdmissionHandler(Func<SidecarTemplate> template, ILogger logger)
{
    private static readonly byte[] NoBody = [];

    /// <summary>Handles one request body (already size-checked).</summary>
    public AdmissionOutcome Handle(ReadOnlySpan<byte> body)
    {
        AdmissionReview? review;
        try
        {
            review = JsonSerializer.Deserialize(body, InjectorJsonContext.Default.AdmissionReview);
        }
        catch (JsonException e)
        {
            return BadRequest($"the body is not valid AdmissionReview JSON: {e.Message}");
        }

        if (review is null)
        {
            return BadRequest("the body is JSON null; send an admission.k8s.io/v1 AdmissionReview");
        }

        if (review.ApiVersion != AdmissionReview.ApiVersionV1)
        {
            return BadRequest($"apiVersion is '{review.ApiVersion}'; this webhook speaks admission.k8s.io/v1 only (set admissionReviewVersions: [v1])");
        }

        if (review.Kind != AdmissionReview.KindName)
        {
            return BadRequest($"kind is '{review.Kind}'; expected AdmissionReview");
        }

        AdmissionRequest? request = review.Request;
        if (request is null)
        {
            return BadRequest("the AdmissionReview has no request");
        }

        if (string.IsNullOrEmpty(request.Uid))
        {
            return BadRequest("request.uid is missing; the answer must echo it");
        }

        SidecarTemplate current = template();
        var response = new AdmissionResponse { Uid = request.Uid, Allowed = true };
        AdmissionResult result = Decide(request, current, response, out InjectionReason reason);
        var answer = new AdmissionReview { ApiVersion = AdmissionReview.ApiVersionV1, Kind = AdmissionReview.KindName, Response = response };
        byte[] bytes = JsonSerializer.SerializeToUtf8Bytes(answer, InjectorJsonContext.Default.AdmissionReview);
        return new AdmissionOutcome(200, bytes, true, result, reason);
    }

    private AdmissionResult Decide(AdmissionRequest request, SidecarTemplate template, AdmissionResponse response, out InjectionReason reason)
    {
        GroupVersionKind? kind = request.Kind;
        if (kind is not { Group: null or "", Version: "v1", Kind: "Pod" } || !string.IsNullOrEmpty(request.SubResource))
        {
            reason = InjectionReason.NotAPod;
            LogSkipped(logger, request.Uid, request.Namespace, request.Name, InjectionResult.Label(reason));
            return AdmissionResult.Allowed;
        }

        if (request.Operation is not "CREATE")
        {
            reason = InjectionReason.NotCreate;
            LogSkipped(logger, request.Uid, request.Namespace, request.Name, InjectionResult.Label(reason));
            return AdmissionResult.Allowed;
        }

        // dryRun needs no special path: the injector has no side effects (sideEffects: None), so a dry run gets the
        // same answer as a real one.
        InjectionResult injection = request.Object is JsonObject pod
            ? SidecarInjector.Inject(pod, request.Namespace, template)
            : InjectionResult.Skip(InjectionReason.InvalidPod, "request.object is not a Pod object");
        reason = injection.Reason;
        string podName = PodName(request);

        if (injection.IsFailure)
        {
            string message = $"BelizeMesh cannot inject the sidecar into pod {podName}: {injection.Message}";
            if (template.Config.FailurePolicy == FailurePolicy.Fail)
            {
                response.Allowed = false;
                response.Status = new AdmissionStatus { Code = 400, Reason = "BadRequest", Message = message };
                LogDenied(logger, request.Uid, request.Namespace, podName, message);
                return AdmissionResult.Denied;
            }

            response.Warnings = [message + " (admitted without the sidecar: failurePolicy is Ignore)"];
            LogAdmittedWithoutSidecar(logger, request.Uid, request.Namespace, podName, message);
            return AdmissionResult.Allowed;
        }

        if (injection.Warn)
        {
            response.Warnings = [injection.Message!];
        }

        if (injection.Patch.Count == 0)
        {
            LogSkipped(logger, request.Uid, request.Namespace, podName, InjectionResult.Label(reason));
            return AdmissionResult.Allowed;
        }

        response.PatchType = "JSONPatch";
        response.Patch = JsonPatch.ToUtf8(injection.Patch);
        LogInjected(logger, request.Uid, request.Namespace, podName, request.DryRun == true);
        return AdmissionResult.Patched;
    }

    private static string PodName(AdmissionRequest request)
    {
        if (!string.IsNullOrEmpty(request.Name))
        {
            return request.Name;
        }

        // Pods created by controllers have only generateName at admission time.
        JsonObject? metadata = (request.Object as JsonObject)?["metadata"] as JsonObject;
        return SidecarInjector.ReadString(metadata, "name")
            ?? (SidecarInjector.ReadString(metadata, "generateName") is { } prefix ? prefix + "*" : "(unnamed)");
    }

    /// <summary>A 400 with the reason as plain text.</summary>
    public static AdmissionOutcome BadRequest(string reason) =>
        new(400, System.Text.Encoding.UTF8.GetBytes(reason + "\n"), false, AdmissionResult.BadRequest, null);

    /// <summary>An outcome with an empty body.</summary>
    public static AdmissionOutcome Empty(int status, AdmissionResult result) => new(status, NoBody, false, result, null);

    [LoggerMessage(EventId = 100, Level = LogLevel.Debug, Message = "Injected sidecar into pod {Namespace}/{Pod} (uid {Uid}, dryRun {DryRun})")]
    private static partial void LogInjected(ILogger logger, string? uid, string? @namespace, string pod, bool dryRun);

    [LoggerMessage(EventId = 101, Level = LogLevel.Debug, Message = "Skipped {Namespace}/{Name} (uid {Uid}): {Reason}")]
    private static partial void LogSkipped(ILogger logger, string? uid, string? @namespace, string? name, string reason);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Denied pod {Namespace}/{Pod} (uid {Uid}): {Message}")]
    private static partial void LogDenied(ILogger logger, string? uid, string? @namespace, string pod, string message);

    [LoggerMessage(EventId = 103, Level = LogLevel.Warning, Message = "Admitted pod {Namespace}/{Pod} without the sidecar (uid {Uid}): {Message}")]
    private static partial void LogAdmittedWithoutSidecar(ILogger logger, string? uid, string? @namespace, string pod, string message);
}
