using System.Globalization;
using System.Text;
using System.Xml;

namespace BelizeMesh.Perf.Compare;

/// <summary>
/// A minimal SVG writer for the report's charts: self-contained (no fonts, scripts or external references), a white
/// background so the charts read the same on light and dark pages, coordinates and text written invariantly.
/// </summary>
internal sealed class Svg
{
    public const string Ink = "#1f2328";
    public const string Muted = "#57606a";
    public const string Grid = "#d8dee4";
    public const string Axis = "#8c959f";
    private const string FontFamily = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif";

    private readonly StringBuilder _body = new();

    public void Rect(double x, double y, double width, double height, string fill, double opacity = 1, string? title = null)
    {
        _body.Append("  <rect x=\"").Append(N(x)).Append("\" y=\"").Append(N(y))
            .Append("\" width=\"").Append(N(Math.Max(width, 0))).Append("\" height=\"").Append(N(Math.Max(height, 0)))
            .Append("\" fill=\"").Append(fill).Append('"');
        if (opacity < 1)
        {
            _body.Append(" fill-opacity=\"").Append(N(opacity)).Append('"');
        }

        CloseWithTitle("rect", title);
    }

    public void Line(double x1, double y1, double x2, double y2, string stroke, double width = 1, string? dash = null)
    {
        _body.Append("  <line x1=\"").Append(N(x1)).Append("\" y1=\"").Append(N(y1))
            .Append("\" x2=\"").Append(N(x2)).Append("\" y2=\"").Append(N(y2))
            .Append("\" stroke=\"").Append(stroke).Append("\" stroke-width=\"").Append(N(width)).Append('"');
        if (dash is not null)
        {
            _body.Append(" stroke-dasharray=\"").Append(dash).Append('"');
        }

        _body.Append("/>\n");
    }

    public void Polyline(IEnumerable<(double X, double Y)> points, string stroke, double width)
    {
        _body.Append("  <polyline fill=\"none\" stroke=\"").Append(stroke).Append("\" stroke-width=\"").Append(N(width))
            .Append("\" stroke-linejoin=\"round\" stroke-linecap=\"round\" points=\"");
        var first = true;
        foreach (var (x, y) in points)
        {
            if (!first)
            {
                _body.Append(' ');
            }

            _body.Append(N(x)).Append(',').Append(N(y));
            first = false;
        }

        _body.Append("\"/>\n");
    }

    public void Circle(double cx, double cy, double r, string fill, string? title = null)
    {
        _body.Append("  <circle cx=\"").Append(N(cx)).Append("\" cy=\"").Append(N(cy)).Append("\" r=\"").Append(N(r))
            .Append("\" fill=\"").Append(fill).Append("\" stroke=\"#ffffff\" stroke-width=\"1\"");
        CloseWithTitle("circle", title);
    }

    /// <summary>
    /// Text whose <paramref name="y"/> is the middle of the line (a dy shift, which every renderer honours, rather than
    /// dominant-baseline, which some ignore). <paramref name="anchor"/> is start, middle or end.
    /// </summary>
    public void Text(double x, double y, string text, double size = 12, string anchor = "start", string fill = Ink,
        bool bold = false, double rotate = 0)
    {
        _body.Append("  <text x=\"").Append(N(x)).Append("\" y=\"").Append(N(y)).Append("\" dy=\"0.35em\" font-size=\"")
            .Append(N(size)).Append('"');
        if (anchor != "start")
        {
            _body.Append(" text-anchor=\"").Append(anchor).Append('"');
        }

        if (fill != Ink)
        {
            _body.Append(" fill=\"").Append(fill).Append('"');
        }

        if (bold)
        {
            _body.Append(" font-weight=\"600\"");
        }

        if (rotate != 0)
        {
            _body.Append(" transform=\"rotate(").Append(N(rotate)).Append(' ').Append(N(x)).Append(' ').Append(N(y)).Append(")\"");
        }

        _body.Append('>').Append(Escape(text)).Append("</text>\n");
    }

    /// <summary>The document: <paramref name="title"/> becomes its accessible name.</summary>
    public string Render(double width, double height, string title)
    {
        var w = N(Math.Ceiling(width));
        var h = N(Math.Ceiling(height));
        var sb = new StringBuilder(_body.Length + 512);
        sb.Append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"").Append(w).Append("\" height=\"").Append(h)
            .Append("\" viewBox=\"0 0 ").Append(w).Append(' ').Append(h).Append("\" role=\"img\" aria-label=\"")
            .Append(Escape(title)).Append("\" font-family=\"").Append(FontFamily).Append("\" fill=\"").Append(Ink).Append("\">\n");
        sb.Append("  <title>").Append(Escape(title)).Append("</title>\n");
        sb.Append("  <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
        sb.Append(_body);
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    /// <summary>A coordinate or size: invariant, at most two decimals.</summary>
    public static string N(double value) =>
        double.IsFinite(value) ? Math.Round(value, 2).ToString("0.##", CultureInfo.InvariantCulture) : "0";

    /// <summary>Text for element content and attribute values: the five XML specials escaped, characters XML cannot
    /// hold (control characters, lone surrogates) replaced by U+FFFD.</summary>
    public static string Escape(string text)
    {
        var sb = new StringBuilder(text.Length + 16);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            switch (c)
            {
                case '&': sb.Append("&amp;"); break;
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '"': sb.Append("&quot;"); break;
                case '\'': sb.Append("&apos;"); break;
                default:
                    if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                    {
                        sb.Append(c).Append(text[++i]);
                    }
                    else
                    {
                        sb.Append(XmlConvert.IsXmlChar(c) ? c : '\uFFFD');
                    }

                    break;
            }
        }

        return sb.ToString();
    }

    /// <summary>
    /// Approximate width of <paramref name="text"/> in a proportional sans-serif at <paramref name="size"/> px, for
    /// laying out margins; errs on the wide side so that labels are not clipped.
    /// </summary>
    public static double TextWidth(string text, double size = 12, bool bold = false)
    {
        double em = 0;
        foreach (var c in text)
        {
            em += c switch
            {
                'i' or 'j' or 'l' or '.' or ',' or ':' or ';' or '\'' or '|' or '!' or ' ' => 0.3,
                'f' or 't' or 'r' or '(' or ')' or '[' or ']' or '-' or '1' or 'I' => 0.4,
                'm' or 'w' or 'M' or 'W' or '%' or '@' or '—' => 0.9,
                >= 'A' and <= 'Z' => 0.7,
                _ => 0.58,
            };
        }

        return em * size * (bold ? 1.08 : 1.0);
    }

    private void CloseWithTitle(string element, string? title)
    {
        if (title is null)
        {
            _body.Append("/>\n");
        }
        else
        {
            _body.Append("><title>").Append(Escape(title)).Append("</title></").Append(element).Append(">\n");
        }
    }
}

/// <summary>An axis from zero to a "nice" maximum with ticks at 1, 2, 2.5 or 5 × 10ⁿ.</summary>
internal readonly record struct NiceScale(double Max, double Step)
{
    public static NiceScale For(double dataMax, int targetTicks = 5)
    {
        if (!double.IsFinite(dataMax) || dataMax <= 0)
        {
            return new NiceScale(1, 0.2);
        }

        var rough = dataMax / targetTicks;
        var power = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        var step = power * 10;
        foreach (var m in (ReadOnlySpan<double>)[1, 2, 2.5, 5, 10])
        {
            if (m * power >= rough * 0.999)
            {
                step = m * power;
                break;
            }
        }

        var max = Math.Ceiling(dataMax / step - 1e-9) * step;
        return new NiceScale(max, step);
    }

    public IEnumerable<double> Ticks()
    {
        var count = (int)Math.Round(Max / Step);
        for (var i = 0; i <= count; i++)
        {
            yield return i * Step;
        }
    }

    /// <summary>A tick label with as many decimals as the step needs: 0, 2,500, 5,000 or 0, 0.25, 0.5.</summary>
    public string Label(double tick)
    {
        var decimals = 0;
        while (decimals < 6 && Math.Abs(Step * Math.Pow(10, decimals) - Math.Round(Step * Math.Pow(10, decimals))) > 1e-6)
        {
            decimals++;
        }

        return tick.ToString("N" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }
}
