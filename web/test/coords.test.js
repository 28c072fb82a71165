import { describe, expect, it } from 'vitest';
import { parseCoordinates } from '../src/coords.js';

describe('parseCoordinates', () => {
  it.each([
    ['121.1335, 28.8493', 121.1335, 28.8493],
    ['121.1335,28.8493', 121.1335, 28.8493],
    ['121.1335 28.8493', 121.1335, 28.8493],
    ['  121.1335 ,\t28.8493  ', 121.1335, 28.8493],
    // lat, lon in China's ranges is put right
    ['28.8493, 121.1335', 121.1335, 28.8493],
    // full-width digits and comma, as Chinese input methods type them
    ['１２１．１３３５，２８．８４９３', 121.1335, 28.8493],
    ['121.1335；28.8493', 121.1335, 28.8493],
    // labels
    ['lat: 28.85, lng: 121.13', 121.13, 28.85],
    ['lon=121.13, lat=28.85', 121.13, 28.85],
    // hemisphere letters and DMS
    ['28.85N 121.13E', 121.13, 28.85],
    ['N28.85, E121.13', 121.13, 28.85],
    ['121°8′0.6″E, 28°51′N', 121 + 8 / 60 + 0.6 / 3600, 28 + 51 / 60],
    ["121°08'00.6\" E 28°51'00\" N", 121 + 8 / 60 + 0.6 / 3600, 28.85],
    ['北纬28°51′ 东经121°8′', 121 + 8 / 60, 28.85],
    ['-73.98, 40.75', -73.98, 40.75],
    ['40.75N 73.98W', -73.98, 40.75],
  ])('%s', (input, lon, lat) => {
    const p = parseCoordinates(input);
    expect(p.error).toBeUndefined();
    expect(p.lon).toBeCloseTo(lon, 9);
    expect(p.lat).toBeCloseTo(lat, 9);
  });

  it.each([
    ['', 'coords.empty'],
    ['   ', 'coords.empty'],
    [null, 'coords.empty'],
    ['abc', 'coords.format'],
    ['121.13', 'coords.format'],
    ['121.13, 28.85, 3', 'coords.format'],
    ['121.13N 28.85N', 'coords.format'],
    ["121°61'E 28°N", 'coords.format'],
    ['200, 10', 'coords.range'],
    ['10, 195', 'coords.range'],
    ['-100, -95', 'coords.range'],
  ])('rejects %j with %s', (input, error) => {
    expect(parseCoordinates(input)).toEqual({ error });
  });
});
