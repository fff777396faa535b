using QstOrleans.Data.Datasets;

namespace QstOrleans.Cli.Generate;

/// <summary>
/// <c>qst chat [--model DIR] [--side FILE|DIR] [--chat-template alpaca|FILE] [generate's sampling options]</c>: an interactive conversation on
/// stdin/stdout. When the model's tokenizer_config.json has a <c>chat_template</c>, the conversation is rendered with
/// it (<see cref="ChatTemplate.RenderPrompt"/>, add_generation_prompt; special-token text mapped to ids) and a reply
/// ends at EOS or the template's end-of-turn token (<c>&lt;|eot_id|&gt;</c>, <c>&lt;|im_end|&gt;</c>, ...).
/// Otherwise each user line is an Alpaca instruction (<see cref="AlpacaPrompt"/>, the template the QST
/// runs train on); earlier turns stay in the prompt (header once, then "### Instruction / ### Response" pairs),
/// the oldest dropped when the context would overflow. The reply streams as it is generated and ends at EOS,
/// at the max token count, or where the model starts a new "### " section. <c>/reset</c> forgets the
/// conversation, <c>/exit</c> (or end of input) quits.
/// </summary>
internal static class ChatCommand
{
    /// <summary>Text that ends a reply: the model opening the next section of the template.</summary>
    const string StopText = "\n###";

    /// <summary>End-of-turn tokens of common chat templates; those the tokenizer has also stop a reply.</summary>
    static readonly string[] EndOfTurnTokens = ["<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>"];

    /// <summary>How a conversation becomes a prompt: the model's own template (null = Alpaca) and what ends a reply.</summary>
    internal sealed record PromptFormat(ChatTemplate? Template, string? StopText, IReadOnlyCollection<int> StopTokens)
    {
        /// <param name="choice"><c>--chat-template</c>: null = the model's own (Alpaca without one), <c>alpaca</c>, or a file.</param>
        public static PromptFormat For(LoadedGenerator loaded, string? choice = null)
        {
            var t = loaded.Tokenizer;
            var template = ChatTemplateChoice.Resolve(choice, loaded.ModelDirectory, t.BosToken, t.EosToken);
            if (template.Family != ChatTemplateFamily.Jinja) return new PromptFormat(null, ChatCommand.StopText, loaded.StopTokens);
            var stops = new HashSet<int>(loaded.StopTokens);
            foreach (string token in EndOfTurnTokens)
                if (t.SpecialTokens.TryGetValue(token, out int id)) stops.Add(id);
            return new PromptFormat(template, null, stops);
        }
    }

    public static Command Create()
    {
        var (model, side, maxNew, temperature, topP, seed, nf4, dtype, threads) = GenerateCommand.CommonOptions();
        var chatTemplate = new Option<string?>("--chat-template") { Description = "alpaca, or a jinja/JSON chat-template file (default: the model's own chat_template, else alpaca)" };
        var command = new Command("chat", "Chat with the model (its chat_template, else the Alpaca prompt template); /reset clears the conversation, /exit quits.")
        {
            model, side, maxNew, temperature, topP, seed, nf4, dtype, threads, chatTemplate,
        };
        command.SetAction(r => CliErrors.Run(() =>
        {
            var settings = new GenerateSettings
            {
                Model = r.GetValue(model), Side = r.GetValue(side), MaxNewTokens = r.GetValue(maxNew),
                Temperature = r.GetValue(temperature), TopP = r.GetValue(topP), Seed = r.GetValue(seed),
                Nf4 = r.GetValue(nf4), Dtype = r.GetValue(dtype)!, Threads = r.GetValue(threads), ChatTemplate = r.GetValue(chatTemplate),
            };
            Run(settings, Console.In, Console.Out);
            return 0;
        }));
        return command;
    }

    /// <summary>Runs the conversation until /exit or end of input; returns the replies (for tests).</summary>
    public static IReadOnlyList<string> Run(GenerateSettings s, TextReader input, TextWriter output)
    {
        using var loaded = LoadedGenerator.Load(s.Model, s.Side, s.Nf4, s.Dtype, s.Threads);
        var format = PromptFormat.For(loaded, s.ChatTemplate);
        output.WriteLine($"{loaded.Description}, {(format.Template is null ? "Alpaca prompt" : "the model's chat template")}. /reset clears the conversation, /exit quits.");
        var turns = new List<(string Instruction, string Response)>();
        var replies = new List<string>();
        int turn = 0;
        while (true)
        {
            output.Write("> ");
            output.Flush();
            string? line = input.ReadLine()?.Trim();
            if (line is null || line == "/exit") break;
            if (line.Length == 0) continue;
            if (line == "/reset")
            {
                turns.Clear();
                output.WriteLine("(conversation cleared)");
                continue;
            }
            var prompt = FitPrompt(loaded, format, turns, line, s.MaxNewTokens);
            if (prompt is null)
            {
                output.WriteLine($"(message too long: the model's context is {loaded.Config.MaxPositionEmbeddings} tokens)");
                continue;
            }
            // A new seed per turn, so the same question twice need not get the same sampled answer.
            string reply = Reply(loaded, format, prompt, s with { Seed = s.Seed + turn++ }, output);
            turns.Add((line, reply));
            replies.Add(reply);
        }
        return replies;
    }

    /// <summary>The prompt ids of the conversation plus the new instruction, dropping old turns until it fits.</summary>
    static IReadOnlyList<int>? FitPrompt(LoadedGenerator loaded, PromptFormat format, List<(string Instruction, string Response)> turns, string instruction, int maxNew)
    {
        int budget = loaded.Config.MaxPositionEmbeddings - Math.Min(maxNew, loaded.Config.MaxPositionEmbeddings / 2);
        while (true)
        {
            var ids = format.Template is { } template
                ? loaded.Tokenizer.EncodeWithSpecialTokens(Transcript(template, turns, instruction))
                : loaded.Tokenizer.Encode(Transcript(turns, instruction), addBos: true);
            if (ids.Count <= budget) return ids;
            if (turns.Count == 0) return null;
            turns.RemoveAt(0);
        }
    }

    /// <summary>Header once, then each turn's instruction and response, then the new instruction's open response.</summary>
    internal static string Transcript(IReadOnlyList<(string Instruction, string Response)> turns, string instruction)
    {
        string Body(string text) => AlpacaPrompt.Format(text, null)[AlpacaPrompt.NoInputHeader.Length..];
        var sb = new System.Text.StringBuilder(AlpacaPrompt.NoInputHeader);
        foreach (var (i, r) in turns) sb.Append(Body(i)).Append(r).Append("\n\n");
        return sb.Append(Body(instruction)).ToString();
    }

    /// <summary>The model's own template: the turns as user/assistant messages, the new user message, the opening of the reply.</summary>
    internal static string Transcript(ChatTemplate template, IReadOnlyList<(string Instruction, string Response)> turns, string instruction)
    {
        var messages = turns.SelectMany(t => new[] { new ChatMessage(ChatRole.User, t.Instruction), new ChatMessage(ChatRole.Assistant, t.Response) })
            .Append(new ChatMessage(ChatRole.User, instruction)).ToList();
        return template.RenderPrompt(messages);
    }

    /// <summary>Streams one reply, holding back text that might be the start of the format's stop text.</summary>
    static string Reply(LoadedGenerator loaded, PromptFormat format, IReadOnlyList<int> prompt, GenerateSettings s, TextWriter output)
    {
        var decoder = new IncrementalDecoder(loaded.Tokenizer);
        int printed = 0;
        string visible = "";
        string? stopText = format.StopText;
        foreach (int id in loaded.Generator.Stream(prompt, s.Options(format.StopTokens)))
        {
            decoder.Push(id);
            int stop = stopText is null ? -1 : decoder.Text.IndexOf(stopText, StringComparison.Ordinal);
            visible = stop >= 0 ? decoder.Text[..stop] : decoder.Text;
            int safe = visible.Length - HeldBack(visible, stopText);
            if (safe > printed)
            {
                output.Write(visible[printed..safe]);
                output.Flush();
                printed = safe;
            }
            if (stop >= 0) break;   // leaving the enumeration stops the generator
        }
        if (stopText is null || decoder.Text.IndexOf(stopText, StringComparison.Ordinal) < 0)
        {
            decoder.Flush();   // an incomplete character held back at the very end
            visible = decoder.Text;
        }
        output.Write(visible[Math.Min(printed, visible.Length)..]);
        output.WriteLine();
        return visible.Trim();
    }

    /// <summary>Length of the longest tail of <paramref name="text"/> that is a proper prefix of <paramref name="stopText"/>.</summary>
    static int HeldBack(string text, string? stopText)
    {
        if (stopText is null) return 0;
        for (int n = Math.Min(stopText.Length - 1, text.Length); n > 0; n--)
            if (text.EndsWith(stopText[..n], StringComparison.Ordinal)) return n;
        return 0;
    }
}
