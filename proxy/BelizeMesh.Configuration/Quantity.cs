using System.Globalization;

namespace BelizeMesh.Configuration;

/// <summary>Kubernetes resource quantities (<c>100m</c>, <c>128Mi</c>, <c>1.5</c>, <c>2e3</c>), parsed to compare requests
/// with limits (the injector's sidecar resources).</summary>
public static class Quantity
{
    /// <summary>Parses a quantity into its value in base units, or returns false when it is not valid Kubernetes notation.</summary>
    public static bool TryParse(string text, out decimal value)
    {
        value = 0;
        if (string.IsNullOrEmpty(text) || text.Length > 64)
        {
            return false;
        }

        int i = 0;
        if (text[0] is '+' or '-')
        {
            i++;
        }

        int digits = 0;
        bool dot = false;
        while (i < text.Length && (char.IsAsciiDigit(text[i]) || (text[i] == '.' && !dot)))
        {
            dot |= text[i] == '.';
            digits += char.IsAsciiDigit(text[i]) ? 1 : 0;
            i++;
        }

        string number = text[..i];
        if (digits == 0
            || !decimal.TryParse(number, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal n))
        {
            return false;
        }

        string suffix = text[i..];
        decimal multiplier;
        switch (suffix)
        {
            case "": multiplier = 1m; break;
            case "m": multiplier = 0.001m; break;
            case "k": multiplier = 1e3m; break;
            case "M": multiplier = 1e6m; break;
            case "G": multiplier = 1e9m; break;
            case "T": multiplier = 1e12m; break;
            case "P": multiplier = 1e15m; break;
            case "E": multiplier = 1e18m; break;
            case "Ki": multiplier = 1024m; break;
            case "Mi": multiplier = 1024m * 1024; break;
            case "Gi": multiplier = 1024m * 1024 * 1024; break;
            case "Ti": multiplier = 1024m * 1024 * 1024 * 1024; break;
            case "Pi": multiplier = 1024m * 1024 * 1024 * 1024 * 1024; break;
            case "Ei": multiplier = 1024m * 1024 * 1024 * 1024 * 1024 * 1024; break;
            default:
                if (suffix.Length > 1 && suffix[0] is 'e' or 'E'
                    && int.TryParse(suffix.AsSpan(1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int exponent)
                    && exponent is >= -18 and <= 18)
                {
                    multiplier = 1m;
                    for (int k = 0; k < Math.Abs(exponent); k++)
                    {
                        multiplier = exponent > 0 ? multiplier * 10 : multiplier / 10;
                    }

                    break;
                }

                return false;
        }

        try
        {
            value = n * multiplier;
        }
        catch (OverflowException)
        {
            return false;
        }

        return true;
    }
}
