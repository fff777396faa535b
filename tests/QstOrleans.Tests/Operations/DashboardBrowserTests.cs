using System.Globalization;
using Microsoft.Playwright;
using QstOrleans.Client;
using QstOrleans.Data.Datasets;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Operations;

/// <summary>
/// The job page (<c>/jobs/{id}</c> on a silo's HTTP port) and the Orleans Dashboard (<c>Qst:Dashboard:Port</c>) in a real
/// browser: Debian's chromium driven by Playwright (no browser download), against the two-silo process cluster with a
/// running job. What the pages show is checked against the job's status read through the client. Screenshots of both
/// pages are saved under the test output's <c>screenshots/</c> (copies are committed in Operations/screenshots/).
/// </summary>
[Collection(ProcessClusterCollection.Name)]
public sealed class DashboardBrowserTests(ProcessClusterFixture cluster, ITestOutputHelper log)
{
    public const string Chromium = "/usr/bin/chromium";
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [ChromiumFact]
    public async Task JobPageAndDashboardShowTheRunningJob()
    {
        string job = $"page-{Guid.NewGuid():N}"[..16];
        // One epoch of 1000 steps: still running whenever the test looks (it pauses, then cancels the job).
        string data = cluster.Scratch($"{job}.jsonl");
        SyntheticDatasets.WriteAlpacaJsonl(data, 4000, seed: 7);
        using (var submit = cluster.StartQst("qst train --detach",
            [.. SoloRun.TrainArgs(cluster.ModelDirectory, data, seed: 7, steps: 1000, stages: 2), "--job-id", job, "--checkpoint-every", "2", "--detach"]))
            Assert.True(await submit.WaitForExit(Patience) == 0, submit.Output);
        await using var client = await cluster.ConnectAsync();
        string shots = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "screenshots")).FullName;
        try
        {
            // Running with two stages placed and a checkpoint committed: everything the page has sections for.
            await Until(async () => await client.StatusOnceSubmitted(job) is { State: JobState.Running, Placement.Count: 2, LastCheckpointStep: >= 2 } ? null : "not yet",
                "a placed pipeline and a checkpoint");
            var slots = (await client.SlotsAsync()).ToDictionary(s => s.Id);
            // The JSON side: /jobs lists the job; an id that is no job is a 404 naming it (and creates no job).
            int http = cluster.HttpPorts["silo-a"];
            Assert.Contains($"\"{job}\"", (await SiloHttp.Get(http, "jobs")).Body);
            var missing = await SiloHttp.Get(http, "jobs/no-such-job/status");
            Assert.Equal(System.Net.HttpStatusCode.NotFound, missing.Status);
            Assert.StartsWith("no job 'no-such-job'", System.Text.Json.JsonDocument.Parse(missing.Body).RootElement.GetProperty("error").GetString());
            Assert.DoesNotContain("no-such-job", (await SiloHttp.Get(http, "jobs")).Body);

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"] });
            var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1100, Height = 1000 } });

            await page.GotoAsync($"http://127.0.0.1:{http}/jobs/{job}");
            await Assertions.Expect(page.Locator("#job-id")).ToHaveTextAsync(job);
            await Assertions.Expect(page.Locator("#stages tbody tr")).ToHaveCountAsync(2);
            // Paused, the step stops once the micro-batches in flight are applied: wait until the page (polling each
            // second) shows the same step, loss and checkpoints as the job's status read before and after it.
            await client.PauseAsync(job);
            JobProgress status = null!;
            IReadOnlyList<CheckpointInfo> checkpoints = [];
            await Until(async () =>
            {
                status = await client.StatusAsync(job);
                checkpoints = await client.CheckpointsAsync(job);
                string step = await page.Locator("#step").InnerTextAsync();
                var shown = await page.Locator("#checkpoints tbody tr td:first-child").AllInnerTextsAsync();
                string listed = string.Join(",", checkpoints.Select(c => c.Step));
                bool same = status.State == JobState.Paused && step == status.Step.ToString(CultureInfo.InvariantCulture)
                    && string.Join(",", shown) == listed && (await client.StatusAsync(job)).Step == status.Step;
                return same ? null : $"job {status.State} at step {status.Step} with checkpoints [{listed}]; the page shows step {step}, "
                    + $"checkpoints [{string.Join(",", shown)}], error '{await page.Locator("#error").InnerTextAsync()}'";
            }, "the paused job's step on the page");
            log.WriteLine($"paused at step {status.Step}, checkpoints {string.Join(", ", checkpoints.Select(c => c.Step))}");

            Assert.Equal(status.TotalSteps.ToString(CultureInfo.InvariantCulture), await page.Locator("#total-steps").InnerTextAsync());
            Assert.Equal("Paused", await page.Locator("#state").InnerTextAsync());
            Assert.Equal(((double)status.Loss).ToString("F4", CultureInfo.InvariantCulture), await page.Locator("#loss").InnerTextAsync());
            // The loss curve has one point per completed step.
            var points = (await page.Locator("#loss-chart polyline").GetAttributeAsync("points"))!.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(status.Step, points.Length);
            Assert.Matches(@"^\d+\.\d\d steps/s", await page.Locator("#step-rate").InnerTextAsync());
            // Stages and where they run: the job's placement, with each slot's silo (one stage on each silo).
            var rows = await page.Locator("#stages tbody tr").AllAsync();
            var shownStages = new List<(string Stage, string Silo, string Slot)>();
            foreach (var row in rows)
            {
                var cells = await row.Locator("td").AllInnerTextsAsync();
                shownStages.Add((cells[0], cells[1], cells[3]));
            }
            var expected = status.Placement.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, slots[p.Value].Silo, p.Value)).ToList();
            Assert.Equal(expected, shownStages);
            Assert.Equal(ProcessClusterFixture.SiloNames, shownStages.Select(s => s.Silo).Order());
            await page.ScreenshotAsync(new() { Path = Path.Combine(shots, "job-page.png"), FullPage = true });

            // The dashboard of the other silo: the overview counts both silos; the grain list has the job's grains.
            await page.GotoAsync($"http://127.0.0.1:{cluster.DashboardPorts["silo-b"]}/");
            await Assertions.Expect(page.Locator("main")).ToContainTextAsync(new System.Text.RegularExpressions.Regex(@"Active Silos\s*2(?!\d)"),
                new() { Timeout = 30_000 });
            await page.GotoAsync($"http://127.0.0.1:{cluster.DashboardPorts["silo-b"]}/#/grains");
            foreach (var grain in new[] { "TrainingJobGrain", "SideTrainerGrain", "BackboneStageGrain" })
                await Assertions.Expect(page.GetByText(grain).First).ToBeVisibleAsync(new() { Timeout = 30_000 });
            await page.ScreenshotAsync(new() { Path = Path.Combine(shots, "dashboard.png"), FullPage = true });
            log.WriteLine($"screenshots: {shots}");
        }
        finally
        {
            await client.CancelAsync(job);
        }
    }

    /// <summary>Polls <paramref name="condition"/> (null: holds; else what was seen instead) until it holds.</summary>
    async Task Until(Func<Task<string?>> condition, string what)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (await condition() is { } seen)
        {
            if (clock.Elapsed > Patience) throw new TimeoutException($"no {what} within {Patience.TotalSeconds:F0} s: {seen}");
            await Task.Delay(200);
        }
        log.WriteLine($"{what}: after {clock.Elapsed.TotalSeconds:F1} s");
    }
}

/// <summary>A fact that needs Debian's chromium at <see cref="DashboardBrowserTests.Chromium"/>; skipped, saying so, without it.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (!File.Exists(DashboardBrowserTests.Chromium))
            Skip = $"{DashboardBrowserTests.Chromium} is absent (apt-get install chromium; .ci/run installs it)";
    }
}
