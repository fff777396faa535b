using QstOrleans.Grains.Hosting;

namespace QstOrleans.Grains.Inputs;

/// <summary>
/// Applies the <see cref="InputGuard"/> to the model directory of every <see cref="StageSpec"/> and <see cref="SideSpec"/>
/// a grain call carries (<c>IBackboneStageGrain.EnsureLoaded</c>, <c>ISideTrainerGrain.Initialize</c>). The job grain
/// checks a job's paths before planning, but any client that reaches a gateway can call a stage or side-trainer grain
/// directly; this closes that side door without the grains themselves knowing about roots. Both calls come once per
/// launch or recovery, and the check (listing one directory) runs on the thread pool.
/// </summary>
internal sealed class InputGuardFilter(InputGuard guard) : IIncomingGrainCallFilter
{
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        var request = context.Request;
        for (int i = 0; i < request.GetArgumentCount(); i++)
        {
            string? model = request.GetArgument(i) switch
            {
                StageSpec stage => stage.ModelDirectory,
                SideSpec side => side.Job.ModelDirectory,
                _ => null,
            };
            if (model is null || StoreUris.IsStoreUri(model)) continue;   // the cluster's own store: StoredModels verifies its copy
            try { await Task.Run(() => guard.CheckModelDirectory(model)); }
            catch (InputRefusedException e) { throw ErrorBoundaryFilter.Translate(e); }   // crosses silos whatever the filter order
        }
        await context.Invoke();
    }
}
