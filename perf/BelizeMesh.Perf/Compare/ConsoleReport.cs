using Spectre.Console;
using Spectre.Console.Rendering;

namespace BelizeMesh.Perf.Compare;

/// <summary>
/// The end-of-run summary on the console: the main table of the Markdown report (same columns, same cells), the
/// skipped scenarios and the cross-checks. On a console too narrow for the whole main table, its latency columns
/// follow in a second table beside the scenario names, rather than every cell being wrapped letter by letter.
/// </summary>
internal static class ConsoleReport
{
    public static void Print(CompareReport report, IAnsiConsole console)
    {
        var main = ReportTables.MainTable(report);
        var title = $"BelizeMesh compare, {ReportFormat.Timestamp(report.StartedAt)}";
        var caption = $"latency in ms; {ReportFormat.Missing} = not measured; took {ReportFormat.Duration(report.WallSeconds)}";
        var all = Enumerable.Range(0, main.Columns.Count).ToList();
        if (Width(main, all) <= console.Profile.Width || !main.Columns.Any(c => c.Latency))
        {
            console.Write(Table(report, main, all, title, caption));
        }
        else
        {
            var latency = all.Where(i => main.Columns[i].Latency).ToList();
            console.Write(Table(report, main, all.Except(latency).ToList(), title, null));
            console.Write(Table(report, main, [0, .. latency], "Latency (open loop)", caption));
        }

        if (report.Skipped.Count > 0)
        {
            console.Write(new Text("Skipped:", new Style(Color.Yellow, decoration: Decoration.Bold)));
            console.WriteLine();
            foreach (var skipped in report.Skipped)
            {
                console.Write(new Text($"  {skipped.Name} ({skipped.Id}): {skipped.Reason}"));
                console.WriteLine();
            }
        }

        if (report.CrossChecks.Count > 0)
        {
            var crossChecks = ReportTables.CrossChecks(report);
            console.Write(Table(report, crossChecks, Enumerable.Range(0, crossChecks.Columns.Count).ToList(),
                "Cross-checks (external load generators)", null, highlightErrors: false));
        }

        if (report.CpuProbes.Count > 0)
        {
            bool uneven = report.CpuProbes.Any(p => p.Uneven);
            console.Write(new Text("vCPU speed probe (ms per fixed loop):" + (uneven ? " UNEVEN during this run: one vCPU was slowed by the host, figures taken then are not comparable (perf/README.md, \"the vCPUs\")" : " even"),
                new Style(uneven ? Color.Yellow : Color.Default)));
            console.WriteLine();
            foreach (CpuProbe probe in report.CpuProbes)
            {
                console.Write(new Text("  " + probe));
                console.WriteLine();
            }
        }
    }

    /// <summary>
    /// About how wide the table is with none of its figures wrapped: each column as wide as its widest figure (or, for
    /// text, its widest word, up to 24), plus borders and padding.
    /// </summary>
    private static int Width(ReportTable table, IReadOnlyList<int> columns)
    {
        var width = 1;
        foreach (var i in columns)
        {
            var column = table.Columns[i];
            var header = column.ConsoleHeader.Split('\n').Max(w => w.Length);
            var cells = table.Rows.Select(r => column.Numeric ? r[i].Length : Math.Min(24, r[i].Length)).DefaultIfEmpty(0).Max();
            width += Math.Max(header, cells) + 3;
        }

        return width;
    }

    private static Table Table(CompareReport report, ReportTable source, IReadOnlyList<int> columns, string title, string? caption,
        bool highlightErrors = true)
    {
        var table = new Table().Border(TableBorder.Rounded);
        table.Title = new TableTitle(Markup.Escape(title));
        if (caption is not null)
        {
            table.Caption = new TableTitle(Markup.Escape(caption));
        }

        foreach (var i in columns)
        {
            var column = source.Columns[i];
            var tableColumn = new TableColumn(new Text(column.ConsoleHeader, new Style(decoration: Decoration.Bold)));
            // Figures are never broken across lines; latency cells break at their " / ".
            table.AddColumn(!column.Numeric ? tableColumn : column.Latency ? tableColumn.RightAligned() : tableColumn.RightAligned().NoWrap());
        }

        var errors = source.Columns.Count - 1;
        for (var r = 0; r < source.Rows.Count; r++)
        {
            var row = source.Rows[r];
            var cells = new List<IRenderable>();
            foreach (var i in columns)
            {
                var red = highlightErrors && i == errors && r < report.Scenarios.Count && report.Scenarios[r].Errors > 0;
                cells.Add(new Text(row[i], red ? new Style(Color.Red) : null));
            }

            table.AddRow(cells);
        }

        return table;
    }
}
