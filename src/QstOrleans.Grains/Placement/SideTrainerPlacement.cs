using Orleans.Placement;
using Orleans.Runtime;

namespace QstOrleans.Grains.Placement;

/// <summary>
/// Places a job's side trainer next to the job's last stage when that stage's silo has room (see
/// <see cref="SideTrainerPlacementDirector"/>), so the final hidden state ĥ and the last stage's taps never cross a link.
/// </summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking]
public sealed class SideTrainerPlacement : PlacementStrategy
{
    public static SideTrainerPlacement Instance { get; } = new();

    /// <summary>Request-context key: the device slot of the job's last stage (set by the call that activates the side trainer).</summary>
    public const string LastStageSlotKey = "qst.side.near-slot";

    /// <summary>Request-context key: the job's stage slots, ';'-separated (slots a stage already occupies are no room).</summary>
    public const string UsedSlotsKey = "qst.side.used-slots";

    /// <summary>Runs <paramref name="call"/> with the placement hint of a job whose stages sit on <paramref name="stageSlots"/>
    /// (in stage order): if <paramref name="call"/> activates the side trainer, it lands by the last stage when there is room.</summary>
    public static async Task<T> WithHint<T>(IReadOnlyList<string> stageSlots, Func<Task<T>> call)
    {
        RequestContext.Set(LastStageSlotKey, stageSlots[^1]);
        RequestContext.Set(UsedSlotsKey, string.Join(';', stageSlots));
        try
        {
            return await call();
        }
        finally
        {
            RequestContext.Remove(LastStageSlotKey);
            RequestContext.Remove(UsedSlotsKey);
        }
    }
}

/// <summary>Marks a grain class for <see cref="SideTrainerPlacement"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class SideTrainerPlacementAttribute() : PlacementAttribute(SideTrainerPlacement.Instance);
