using QstOrleans.Data.Datasets.Cache;
using Spectre.Console;

namespace QstOrleans.Cli.Shared;

/// <summary>
/// The token cache's build progress as a Spectre.Console bar on standard error (records done, percentage, elapsed,
/// remaining), when standard error is an interactive terminal; the outcome line ("token cache built/hit ...") after
/// it. Installed once by <c>qst</c> at start (<see cref="TokenCacheProgress.Display"/>): every cache build in the
/// process (training and validation files, in train-local, train --local's silo and bench data) reports through it.
/// </summary>
/// <remarks>The cache reports from its worker threads (one at a time); the bar runs on a thread of its own from the
/// first progress report to the outcome, refreshed from the latest report.</remarks>
internal sealed class TokenCacheProgressBar
{
    readonly IAnsiConsole _console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
    readonly object _gate = new();
    TokenCacheProgress? _latest;
    ManualResetEventSlim? _finished;
    Thread? _bar;

    /// <summary>Routes the cache's progress here when standard error is an interactive terminal; else leaves the plain line.</summary>
    public static void Install()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        if (Console.IsErrorRedirected || !console.Profile.Capabilities.Interactive || !console.Profile.Capabilities.Ansi) return;
        TokenCacheProgress.Display = new TokenCacheProgressBar().Report;
    }

    void Report(TokenCacheProgress p)
    {
        lock (_gate)
        {
            _latest = p;
            if (p.Outcome is null && _bar is null)
            {
                var finished = _finished = new ManualResetEventSlim();
                _bar = new Thread(() => Run(finished)) { IsBackground = true, Name = "token cache progress" };
                _bar.Start();
                return;
            }
            if (p.Outcome is null) return;
        }
        // The outcome: close the bar (its last frame shows 100 %), then the line.
        _finished?.Set();
        _bar?.Join();
        lock (_gate)
        {
            _bar = null;
            _finished = null;
        }
        _console.MarkupLine($"[grey]token cache {Markup.Escape(p.Outcome!)} for {Markup.Escape(Path.GetFileName(p.DataFile))}: " +
                            $"{p.Total} records in {p.Elapsed.TotalSeconds:F1} s[/]");
    }

    void Run(ManualResetEventSlim finished)
    {
        _console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                TokenCacheProgress first;
                lock (_gate) first = _latest!;
                var task = context.AddTask($"tokenizing {Markup.Escape(Path.GetFileName(first.DataFile))}", maxValue: Math.Max(1, first.Total));
                while (true)
                {
                    bool done = finished.Wait(TimeSpan.FromMilliseconds(200));     // the refresh period, or the outcome
                    TokenCacheProgress latest;
                    lock (_gate) latest = _latest!;
                    task.Value = done ? task.MaxValue : latest.Done;
                    task.Description = $"tokenizing {Markup.Escape(Path.GetFileName(latest.DataFile))} ({latest.Done:N0}/{latest.Total:N0} records)";
                    if (done) break;
                }
            });
    }
}
