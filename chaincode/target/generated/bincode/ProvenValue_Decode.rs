impl < __Context > :: bincode :: Decode < __Context > for ProvenValue
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            version : :: bincode :: Decode :: decode(decoder) ?, key : ::
            bincode :: Decode :: decode(decoder) ?, value : :: bincode ::
            Decode :: decode(decoder) ?, proof : :: bincode :: Decode ::
            decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for ProvenValue
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            version : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, key : :: bincode :: BorrowDecode ::< '_,
            __Context >:: borrow_decode(decoder) ?, value : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?, proof
            : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?,
        })
    }
}